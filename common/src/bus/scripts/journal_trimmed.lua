-- How far a shard journal may have lost entries to trimming: "entries up to this id may be gone"
-- ("0-0" when nothing was ever removed, or there is no journal). A resume position below it
-- cannot be replayed exactly (issue 16). Journals are only ever trimmed from their head, so the
-- removed entries all lie before the first one left; Redis 7.0 does not record trimmed ids
-- (`max-deleted-entry-id` counts XDEL only), so this is the id just before that first entry:
-- a token between the last removed entry and the first kept one is refused although it could
-- be replayed, never the reverse.
-- KEYS[1] event journal.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return '0-0'
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local f = {}
for i = 1, #info, 2 do
  f[info[i]] = info[i + 1]
end
local removed = tonumber(f['entries-added']) - tonumber(f['length'])
if removed <= 0 then
  return '0-0'
end
if tonumber(f['length']) == 0 then
  return f['last-generated-id']
end
local first = f['first-entry'][1]
local dash = string.find(first, '-', 1, true)
local ms = string.sub(first, 1, dash - 1)
local seq = tonumber(string.sub(first, dash + 1))
if seq > 0 then
  return ms .. '-' .. string.format('%d', seq - 1)
end
return string.format('%d', tonumber(ms) - 1) .. '-18446744073709551615'
