package handlers

import (
	"encoding/json"
	"net/http"

	"nantian/models/catalog"
	"nantian/models/ops"

	"github.com/gin-gonic/gin"
)

// CatalogHandler serves programs and sessions to residents and staff.
type CatalogHandler struct {
	Catalog *catalog.Catalog
	// Cache keeps encoded program and session answers for a short TTL; the
	// operations that change them (ops.Programs, ops.Sessions, the booking
	// engine) invalidate it. May be nil (always read MySQL).
	Cache *catalog.CatalogCache
	// Programs and Sessions are the staff operations (audited, with their
	// follow-ups); the handler only decodes and encodes around them.
	Programs *ops.Programs
	Sessions *ops.Sessions
}

// ListPrograms lists programs by ?kind= and ?audience=.
func (h *CatalogHandler) ListPrograms(c *gin.Context) {
	kind, audience := c.Query("kind"), c.Query("audience")
	switch kind {
	case "", catalog.KindNightSchool, catalog.KindChildcare, catalog.KindActivity:
	default:
		Abort(c, http.StatusBadRequest, "invalid_request", "kind: 必须是 night_school|childcare|activity 之一")
		return
	}
	switch audience {
	case "", catalog.AudienceElderly, catalog.AudienceChildren, catalog.AudienceYouth, catalog.AudienceAll:
	default:
		Abort(c, http.StatusBadRequest, "invalid_request", "audience: 必须是 elderly|children|youth|all 之一")
		return
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Catalog.ListPrograms(c.Request.Context(), catalog.ProgramFilter{Kind: kind, Audience: audience, Page: page})
	writePage(c, page, items, err, func(x catalog.Program) int64 { return x.ID })
}

// GetProgram returns a program with its upcoming sessions.
func (h *CatalogHandler) GetProgram(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	load := func() ([]byte, error) {
		p, err := h.Catalog.ProgramWithSessions(c.Request.Context(), id)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(p)
		return LocalJSON(c, b), err
	}
	var body []byte
	var err error
	if h.Cache != nil {
		body, err = h.Cache.Program(id, load)
	} else {
		body, err = load()
	}
	if err != nil {
		Fail(c, err)
		return
	}
	WriteLocalJSON(c, http.StatusOK, body)
}

// GetSession returns one session.
func (h *CatalogHandler) GetSession(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	load := func() ([]byte, int64, error) {
		s, err := h.Catalog.GetSession(c.Request.Context(), id)
		if err != nil {
			return nil, 0, err
		}
		b, err := json.Marshal(s)
		return LocalJSON(c, b), s.ProgramID, err
	}
	var body []byte
	var err error
	if h.Cache != nil {
		body, err = h.Cache.Session(id, load)
	} else {
		body, _, err = load()
	}
	if err != nil {
		Fail(c, err)
		return
	}
	WriteLocalJSON(c, http.StatusOK, body)
}

// CreateProgram (staff) publishes a program.
func (h *CatalogHandler) CreateProgram(c *gin.Context) {
	var in catalog.ProgramInput
	if !BindJSON(c, &in) {
		return
	}
	p, err := h.Programs.Create(c.Request.Context(), Actor(c), in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, p)
}

// PatchProgram (staff) edits a program.
func (h *CatalogHandler) PatchProgram(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in catalog.ProgramPatch
	if !BindJSON(c, &in) {
		return
	}
	p, err := h.Programs.Patch(c.Request.Context(), Actor(c), id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// CreateSession (staff) adds a session to a program.
func (h *CatalogHandler) CreateSession(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in catalog.SessionInput
	if !BindJSON(c, &in) {
		return
	}
	s, err := h.Programs.CreateSession(c.Request.Context(), Actor(c), id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, s)
}

// PatchSession (staff) changes times, venue or capacity (never below live bookings).
func (h *CatalogHandler) PatchSession(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in catalog.SessionPatch
	if !BindJSON(c, &in) {
		return
	}
	s, err := h.Sessions.Patch(c.Request.Context(), Actor(c), id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}
