package dataverse_test

import "github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"

func emulatorUser(objectID, upn string) emulator.EntraUser {
	return emulator.EntraUser{ObjectID: objectID, UPN: upn, FirstName: "Ada", LastName: "Lovelace", Licensed: true}
}
