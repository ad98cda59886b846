package console

// routesJourneys mounts the journeys' pages beyond Today. Each journey keeps
// its handlers in its own file; its routes go here so the console's map stays
// in one place.
func (c *Console) routesJourneys() {
}
