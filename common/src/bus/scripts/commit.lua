-- Applies one batch of a shard's commands atomically, fenced by the shard lease
-- (DESIGN.md "The paths a signal takes" §1 and "Sharding, failover, liveness").
-- KEYS[1] lease, KEYS[2] applied marker, KEYS[3] event journal, KEYS[4..] entity keys written.
-- ARGV[1] lease token this hub holds, ARGV[2] last command-stream id of the batch,
-- ARGV[3] journal MAXLEN (approximate), ARGV[4] number of entity writes,
-- then per write: op ("S" set / "D" delete), value;
-- then the number of journal entries, and per entry: its field count and its fields;
-- then the index section (search_index.lua, which is prepended to this script).
-- Returns the journal ids, in order.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the shard lease is not held by this hub')
end
local a = 5
local nw = tonumber(ARGV[4])
for i = 1, nw do
  local key = KEYS[3 + i]
  if ARGV[a] == 'S' then
    redis.call('SET', key, ARGV[a + 1])
  else
    redis.call('DEL', key)
  end
  a = a + 2
end
local nj = tonumber(ARGV[a])
a = a + 1
local ids = {}
for j = 1, nj do
  local nf = tonumber(ARGV[a])
  a = a + 1
  local args = {'XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*'}
  for f = 1, nf do
    args[#args + 1] = ARGV[a]
    a = a + 1
  end
  ids[j] = redis.call(unpack(args))
end
apply_index(a)
redis.call('SET', KEYS[2], ARGV[2])
return ids
