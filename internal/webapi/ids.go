package webapi

import (
	"fmt"
	"regexp"
)

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s is a GUID (8-4-4-4-12 hex digits), the form of Dataverse record ids and
// Entra ID object ids.
func IsGUID(s string) bool { return guidRE.MatchString(s) }

// CheckGUIDs refuses anything but GUIDs where an id goes into a URL, a $filter or a body, so an id
// can never change what a request addresses ("<service> <op>: "x" is not a GUID").
func CheckGUIDs(service, op string, ids ...string) error {
	for _, id := range ids {
		if !IsGUID(id) {
			return fmt.Errorf("%s %s: %q is not a GUID", service, op, id)
		}
	}
	return nil
}
