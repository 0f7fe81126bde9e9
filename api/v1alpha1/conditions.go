package v1alpha1

// Condition types. Every kind writes Ready and, when a person must act, Stalled; the aspect
// conditions say which part of a user or role is in place.
const (
	// ConditionReady is True when everything the spec asks is in place.
	ConditionReady = "Ready"
	// ConditionStalled is True, with the same reason as Ready, when the object cannot become Ready
	// until someone changes it or another object. kstatus readers (Flux, Argo CD) report it as failed.
	ConditionStalled = "Stalled"

	// ConditionEnabled says whether a user is in fact enabled (EN1).
	ConditionEnabled = "Enabled"
	// ConditionLicensed says whether a user holds the seat of its license (LI1, AM2).
	ConditionLicensed = "Licensed"
	// ConditionNonInteractiveSlot says whether a NonInteractive user holds one of the seven slots (AM6).
	ConditionNonInteractiveSlot = "NonInteractiveSlot"
	// ConditionRolesAssigned says whether a principal's roles resolve and may be assigned (EN5, EN6, SR5).
	ConditionRolesAssigned = "RolesAssigned"
	// ConditionSynced says whether the decided state is in place in Dataverse (an Environment with
	// spec.dataverse); Ready requires it.
	ConditionSynced = "Synced"
	// ConditionWebResourceReadable says whether a role can read the webresource table (SR8).
	ConditionWebResourceReadable = "WebResourceReadable"
)

// Condition reasons. Each names one thing to fix; messages say which object and what to change.
const (
	ReasonReady       = "Ready"
	ReasonReconciling = "Reconciling"

	// References (EV3).
	ReasonEnvironmentNotFound    = "EnvironmentNotFound"
	ReasonEnvironmentDeleting    = "EnvironmentDeleting"
	ReasonBusinessUnitNotFound   = "BusinessUnitNotFound"
	ReasonSecurityRoleNotFound   = "SecurityRoleNotFound"
	ReasonRoleNotInBusinessUnit  = "RoleNotInBusinessUnit"
	ReasonRoleInOtherEnvironment = "RoleInOtherEnvironment"
	ReasonTeamMemberNotFound     = "TeamMemberNotFound"

	// Allocation (AM6, LI1, EV1).
	ReasonNonInteractiveLimitReached = "NonInteractiveLimitReached"
	ReasonSlotGranted                = "SlotGranted"
	ReasonSlotNotNeeded              = "SlotNotNeeded"
	ReasonSeatsExhausted             = "SeatsExhausted"
	ReasonSeatHeld                   = "SeatHeld"
	ReasonLicenseNotOffered          = "LicenseNotOffered"
	ReasonLicenseNotNeeded           = "LicenseNotNeeded"
	ReasonLicensesNotCounted         = "LicensesNotCounted"
	ReasonAwaitingAllocation         = "AwaitingAllocation"
	// ReasonSeatsBelowUsage: an SKU offers fewer seats than are held; seats are never taken back (LI1).
	ReasonSeatsBelowUsage = "SeatsBelowUsage"

	// Enablement (EN1, AM2, AM8, EN5, EN6).
	ReasonEnabled                      = "Enabled"
	ReasonDisabled                     = "Disabled"
	ReasonNotInSecurityGroup           = "NotInSecurityGroup"
	ReasonSignInBlocked                = "SignInBlocked"
	ReasonUnlicensed                   = "Unlicensed"
	ReasonStubUser                     = "StubUser"
	ReasonStillEnabled                 = "StillEnabled"
	ReasonNoSecurityRole               = "NoSecurityRole"
	ReasonRoleAssignmentToDisabledUser = "RoleAssignmentToDisabledUser"
	ReasonRolesAssigned                = "RolesAssigned"
	// ReasonAwaitingEnablement: roles are assigned once the user, meant to be enabled, is (EN6).
	ReasonAwaitingEnablement = "AwaitingEnablement"

	// Uniqueness.
	ReasonDuplicateUserName      = "DuplicateUserName"
	ReasonDuplicateApplicationID = "DuplicateApplicationId"
	ReasonDuplicateRoleName      = "DuplicateRoleName"

	// Environment (EV2, EV4).
	ReasonBusinessUnitCycle = "BusinessUnitCycle"
	ReasonDeletionBlocked   = "DeletionBlocked"

	// Sync target (Dataverse Web API).
	ReasonSynced               = "Synced"
	ReasonSyncPending          = "SyncPending"
	ReasonDrifted              = "Drifted"
	ReasonAwaitingEntraSync    = "AwaitingEntraSync"
	ReasonDataverseUnreachable = "DataverseUnreachable"
	ReasonUnauthorized         = "Unauthorized"
	ReasonThrottled            = "Throttled"
	ReasonEnablementDrift      = "EnablementDrift"
	ReasonSyncConflict         = "SyncConflict"

	// Entra ID target (Microsoft Graph).
	// ReasonEntraDrift: a declared fact the operator does not manage (signInBlocked, license,
	// securityGroups) differs from Entra ID, which EN1 then follows.
	ReasonEntraDrift = "EntraDrift"
	// ReasonPersonNotFound: Entra ID has no user with spec.userName (or spec.entraObjectId).
	ReasonPersonNotFound = "PersonNotFound"
	// ReasonTenantLicensesExhausted: every enabled unit of the SKU is consumed in the tenant.
	ReasonTenantLicensesExhausted = "TenantLicensesExhausted"
	// ReasonLicenseNotInTenant: the tenant has no subscription with spec.license's part number.
	ReasonLicenseNotInTenant = "LicenseNotInTenant"
	// ReasonNoUsageLocation: Graph assigns no license to a person without a usage location.
	ReasonNoUsageLocation = "NoUsageLocation"
	// ReasonGroupNotFound, ReasonGroupAmbiguous, ReasonGroupNotSecurityEnabled: an Entra group
	// named by spec.securityGroup or a team's spec.group cannot be used.
	ReasonGroupNotFound           = "GroupNotFound"
	ReasonGroupAmbiguous          = "GroupAmbiguous"
	ReasonGroupNotSecurityEnabled = "GroupNotSecurityEnabled"

	// Security roles (SR8).
	ReasonWebResourceReadable    = "WebResourceReadable"
	ReasonMissingWebResourceRead = "MissingPrvReadWebResource"
)
