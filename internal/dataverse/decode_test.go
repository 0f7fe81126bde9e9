package dataverse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// realSystemUser is shaped like a systemusers record of the real service asked with
// odata.include-annotations="*": most columns null, lookups as _x_value with formatted-value and
// lookup annotations, @odata.etag, numbers for option sets. The client must take what it needs and
// ignore the rest.
const realSystemUser = `{
  "@odata.context": "https://contoso.crm4.dynamics.com/api/data/v9.2/$metadata#systemusers/$entity",
  "@odata.etag": "W/\"4812265\"",
  "address1_addresstypecode": 1, "address1_city": null, "address1_composite": null, "address1_country": null,
  "address1_county": null, "address1_fax": null, "address1_latitude": null, "address1_line1": null,
  "address1_line2": null, "address1_line3": null, "address1_longitude": null, "address1_name": null,
  "address1_postalcode": null, "address1_postofficebox": null, "address1_shippingmethodcode": 1,
  "address1_stateorprovince": null, "address1_telephone1": null, "address1_telephone2": null,
  "address1_telephone3": null, "address1_upszone": null, "address1_utcoffset": null,
  "address2_addressid": "1c1a2f4a-0000-4a2c-9b1a-58e9f3a7b001", "address2_city": null,
  "applicationid": null, "applicationiduri": null, "azureactivedirectoryobjectid": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
  "azuredeletedon": null, "azurestate": 0, "azurestate@OData.Community.Display.V1.FormattedValue": "Exists",
  "_businessunitid_value": "8d2f1b6e-3c4a-4e5f-9a0b-1c2d3e4f5a6b",
  "_businessunitid_value@OData.Community.Display.V1.FormattedValue": "contoso",
  "_businessunitid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "businessunitid",
  "_businessunitid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "businessunit",
  "_calendarid_value": "5b7d9a3c-1e2f-4a5b-8c9d-0e1f2a3b4c5d", "caltype": 0,
  "caltype@OData.Community.Display.V1.FormattedValue": "Professional",
  "createdon": "2024-03-04T09:15:22Z", "_createdby_value": null, "defaultfilterspopulated": true,
  "defaultodbfoldername": "CRM", "deletedstate": 0, "disabledreason": null, "displayinserviceviews": false,
  "domainname": "ada@contoso.example", "emailrouteraccessapproval": 0, "employeeid": null,
  "entityimage": null, "entityimage_timestamp": null, "entityimage_url": null, "entityimageid": null,
  "exchangerate": null, "firstname": "Ada", "fullname": "Ada Lovelace", "governmentid": null, "homephone": null,
  "identityid": 417, "importsequencenumber": null, "incomingemaildeliverymethod": 2, "internalemailaddress": "ada@contoso.example",
  "invitestatuscode": 4, "isactivedirectoryuser": true, "isdisabled": false,
  "isdisabled@OData.Community.Display.V1.FormattedValue": "Enabled", "isemailaddressapprovedbyo365admin": true,
  "isintegrationuser": false, "islicensed": true, "issyncwithdirectory": true, "jobtitle": null, "lastname": "Lovelace",
  "middlename": null, "mobilealertemail": null, "mobilephone": null, "modifiedon": "2026-11-02T17:40:01Z",
  "_modifiedby_value": "235bbccb-1508-5b85-a885-1dd99dda2fd8", "msdyn_agentType": 0, "msdyn_botapplicationid": null,
  "msdyn_gdproptout": false, "nickname": null, "_organizationid_value": "7f03adc0-99ae-5c18-b0e3-b81bfcb39ab3",
  "outgoingemaildeliverymethod": 2, "overriddencreatedon": null, "_parentsystemuserid_value": null,
  "passporthi": null, "passportlo": null, "personalemailaddress": null, "photourl": null, "_positionid_value": null,
  "preferredaddresscode": null, "preferredemailcode": 1, "preferredphonecode": 1, "processid": null,
  "_queueid_value": "2a4c6e8f-0b1d-4f3a-9c5e-7a9b1c3d5e7f", "salutation": null, "setupuser": false,
  "sharepointemailaddress": null, "_siteid_value": null, "skills": null, "stageid": null,
  "systemuserid": "4e6a8c0e-2f4b-4d6f-8a0c-2e4a6c8e0f2b", "_territoryid_value": null, "timezoneruleversionnumber": null,
  "title": null, "_transactioncurrencyid_value": null, "traversedpath": null, "userlicensetype": 6, "userpuid": "100320019C4A1B2C",
  "utcconversiontimezonecode": null, "versionnumber": 4812265, "windowsliveid": "ada@contoso.example",
  "yammeremailaddress": null, "yammeruserid": null, "yomifirstname": null, "yomifullname": "Ada Lovelace",
  "yomilastname": null, "yomimiddlename": null, "accessmode": 0,
  "accessmode@OData.Community.Display.V1.FormattedValue": "Read-Write"
}`

func TestDecodeRealisticSystemUser(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/data/v9.2/systemusers(") || r.Header.Get("Authorization") != "Bearer "+testToken {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		_, _ = w.Write([]byte(realSystemUser))
	}))
	defer srv.Close()
	conn, err := dataverse.NewConnector(dataverse.DefaultOptions(), srv.Client(), nil)
	ok(t, err)
	cl, err := conn.Environment(srv.URL, staticCred(testToken))
	ok(t, err)
	got := must(cl.UserByObjectID(context.Background(), "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"))
	want := &dataverse.SystemUser{
		ID:                           "4e6a8c0e-2f4b-4d6f-8a0c-2e4a6c8e0f2b",
		ETag:                         `W/"4812265"`,
		DomainName:                   "ada@contoso.example",
		FullName:                     "Ada Lovelace",
		AzureActiveDirectoryObjectID: "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
		AccessMode:                   dataverse.AccessModeReadWrite,
		IsLicensed:                   true,
		BusinessUnitID:               "8d2f1b6e-3c4a-4e5f-9a0b-1c2d3e4f5a6b",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("decoded user (-want +got):\n%s", d)
	}
	if got.IsApplicationUser() {
		t.Fatal("a person with applicationid null is not an application user")
	}
}

// TestDecodeEmulatorRecord: the emulator's own full records (no $select) decode the same way.
func TestDecodeEmulatorRecord(t *testing.T) {
	h := newHarness(t, nil, nil)
	users := must(h.cl.ListUsers(context.Background(), "fullname eq 'SYSTEM'"))
	if len(users) != 1 || users[0].ETag == "" || users[0].BusinessUnitID == "" || users[0].AccessMode != dataverse.AccessModeSupportUser {
		t.Fatalf("SYSTEM user %+v", users)
	}
}

// TestNextLinkStaysOnHost: a nextLink to another host is not followed, so the token never leaves
// the environment.
func TestNextLinkStaysOnHost(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"value":[{"roleid":"4e6a8c0e-2f4b-4d6f-8a0c-2e4a6c8e0f2b","name":"a"}],"@odata.nextLink":"https://elsewhere.example/api/data/v9.2/roles?$skiptoken=x"}`))
	}))
	defer srv.Close()
	conn, err := dataverse.NewConnector(dataverse.DefaultOptions(), srv.Client(), nil)
	ok(t, err)
	cl, err := conn.Environment(srv.URL, staticCred(testToken))
	ok(t, err)
	if _, err := cl.ListRoles(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "refusing to send a token to https://elsewhere.example") {
		t.Fatalf("nextLink to another host: %v", err)
	}
}
