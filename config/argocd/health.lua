-- Argo CD health check for every kind of access.accessplane.io/v1alpha1 (dataverse-access-operator);
-- hack/argocd-cm.sh embeds it once per kind, as Argo CD wants a script per kind.
-- Healthy:     Ready is True for the object's current generation.
-- Degraded:    Stalled is True: the object cannot become Ready until someone changes it or another
--              object (a full limit, a missing reference, a contradiction); the message says what.
-- Progressing: the operator has not yet observed this generation, or is still working on it.
-- The same rules as kstatus (Flux): Stalled means failed, Ready and an observed generation current.
-- With a Dataverse target (the Environment's spec.dataverse) the operator folds Synced into Ready,
-- so Healthy already means "in place in Dataverse"; the message adds Synced's reason whenever it
-- says something Ready does not (Drifted, Throttled, AwaitingEntraSync, SyncPending, ...).
local kind = obj.kind or "object"
local hs = {status = "Progressing", message = "Waiting for the operator to reconcile this " .. kind}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. generation .. " of this " .. kind
  return hs
end

-- An Environment also says how full its seven non-interactive slots are (no other kind has them).
local function withUsage(message)
  if obj.status.nonInteractive ~= nil and obj.status.nonInteractive.usage ~= nil then
    return message .. " (non-interactive slots " .. obj.status.nonInteractive.usage .. ")"
  end
  return message
end

local ready = nil
local stalled = nil
local synced = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  elseif condition.type == "Stalled" then
    stalled = condition
  elseif condition.type == "Synced" then
    synced = condition
  end
end

-- Synced (present only with a Dataverse target), unless the message already gives its reason.
local function withSynced(message, shownReason)
  if synced == nil then
    return message
  end
  if synced.status == "True" then
    return message .. " (Synced)"
  end
  if synced.reason ~= nil and synced.reason == shownReason then
    return message
  end
  return message .. "; Synced False, " .. (synced.reason or "Unknown") .. ": " .. (synced.message or "")
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = withUsage(withSynced((stalled.reason or "Stalled") .. ": " .. (stalled.message or ""), stalled.reason))
  return hs
end
if ready ~= nil and ready.status == "True" and (ready.observedGeneration == nil or ready.observedGeneration == generation) then
  hs.status = "Healthy"
  hs.message = withUsage(withSynced(ready.message or "Ready", ready.reason))
  return hs
end
if ready ~= nil then
  hs.message = withUsage(withSynced((ready.reason or "Reconciling") .. ": " .. (ready.message or ""), ready.reason))
end
return hs
