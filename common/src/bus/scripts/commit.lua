-- Applies one batch of a shard's commands atomically, fenced by the shard lease
-- (DESIGN.md "The paths a signal takes" §1 and "Sharding, failover, liveness").
-- KEYS[1] lease, KEYS[2] applied marker, KEYS[3] event journal, KEYS[4..] entity keys written,
-- then one twin history key per history entry.
-- ARGV[1] lease token this hub holds, ARGV[2] last command-stream id of the batch,
-- ARGV[3] journal MAXLEN (approximate), ARGV[4] number of entity writes,
-- then per write: op ("S" set / "D" delete / "Z" add "<score>:<member>" to a sorted set /
-- "R" remove member from a sorted set), value;
-- then the number of journal entries, and per entry: its field count and its fields;
-- then the history retention: its count (MAXLEN, exact) and age in ms (MINID and PEXPIRE; 0: none),
-- the number of history entries, and per entry: "1" when the thing was created anew (its old
-- history is dropped first, else "0"), its field count and its fields.
-- Returns the journal ids, in order.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the shard lease is not held by this hub')
end
local a = 5
local nw = tonumber(ARGV[4])
for i = 1, nw do
  local key = KEYS[3 + i]
  local op = ARGV[a]
  if op == 'S' then
    redis.call('SET', key, ARGV[a + 1])
  elseif op == 'Z' then
    local score, member = string.match(ARGV[a + 1], '^(%d+):(.*)$')
    redis.call('ZADD', key, score, member)
  elseif op == 'R' then
    redis.call('ZREM', key, ARGV[a + 1])
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
local hmax = ARGV[a]
local hage = tonumber(ARGV[a + 1])
local nh = tonumber(ARGV[a + 2])
a = a + 3
local minid = nil
if nh > 0 and hage > 0 then
  local t = redis.call('TIME')
  minid = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - hage) .. '-0'
end
for h = 1, nh do
  local key = KEYS[3 + nw + h]
  if ARGV[a] == '1' then
    redis.call('DEL', key)
  end
  local nf = tonumber(ARGV[a + 1])
  a = a + 2
  local args = {'XADD', key, 'MAXLEN', '=', hmax, '*'}
  for f = 1, nf do
    args[#args + 1] = ARGV[a]
    a = a + 1
  end
  redis.call(unpack(args))
  if minid then
    redis.call('XTRIM', key, 'MINID', '=', minid)
    redis.call('PEXPIRE', key, hage)
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return ids
