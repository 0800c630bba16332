-- Argo CD health check for the azbatch.io kinds ManagedImage and BatchPool (kstatus conditions Ready / Reconciling / Stalled).
-- Single source of truth: argocd-cm-patch.yaml embeds this file verbatim (a unit test checks it).
--   Degraded     Stalled=True: nothing progresses without a human; the message says what to do.
--   Healthy      Ready=True and the operator has observed the current metadata.generation.
--   Progressing  anything else: no status yet, Reconciling=True, or a spec change not yet observed
--                (a stale observedGeneration also masks an old Stalled, as kstatus does).
local hs = {status = "Progressing", message = "Waiting for the azbatch operator to reconcile"}

local function condition(conditions, type)
  for _, c in ipairs(conditions or {}) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

local status = obj.status
if status == nil or status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
local ready = condition(status.conditions, "Ready")
local observed = status.observedGeneration
if observed == nil and ready ~= nil then
  observed = ready.observedGeneration
end
if generation ~= nil and observed ~= nil and observed < generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
if ready ~= nil and ready.status == "True" and observed ~= nil then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling)
elseif ready ~= nil then
  hs.message = describe(ready)
end
return hs
