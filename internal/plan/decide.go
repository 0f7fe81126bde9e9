package plan

import (
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// Snapshot is every object of one namespace: the input of the controllers' decisions.
type Snapshot = decide.Snapshot

// builtInLabel marks the SecurityRoles an Environment creates.
const builtInLabel = decide.BuiltInLabel

// converge is plan's one call into the controllers' decisions: every status as the controllers
// would write it once converged at now. Nothing here re-implements a rule; plan only reads the
// statuses this returns.
func converge(s Snapshot, now time.Time) Snapshot { return decide.Converge(s, now) }
