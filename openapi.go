// Package nantian holds the files that belong to the whole project rather than one
// package; today that is the OpenAPI description, embedded so the server can serve
// it at /api/v1/openapi.yaml and tests can validate real responses against it.
package nantian

import _ "embed"

// OpenAPI is openapi.yaml, the machine-readable API contract.
//
//go:embed openapi.yaml
var OpenAPI []byte
