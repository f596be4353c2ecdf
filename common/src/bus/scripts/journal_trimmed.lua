-- The newest id trimmed from a shard journal ("0-0" when none was, or there is no journal):
-- a resume position below it cannot be replayed exactly (issue 16). Redis 7 keeps it per stream.
-- KEYS[1] event journal.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return '0-0'
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then
    return info[i + 1]
  end
end
return '0-0'
