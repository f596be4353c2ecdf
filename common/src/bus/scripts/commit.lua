-- Applies one batch of a shard's commands atomically, fenced by the shard lease
-- (DESIGN.md "The paths a signal takes" §1 and "Sharding, failover, liveness").
-- KEYS[1] lease, KEYS[2] applied marker, KEYS[3] event journal, KEYS[4..] entity keys written.
-- ARGV[1] lease token this hub holds, ARGV[2] last command-stream id of the batch,
-- ARGV[3] journal MAXLEN (approximate), ARGV[4] number of entity writes,
-- then per write: op ("S" set / "D" delete), value;
-- then the number of journal entries, and per entry: its field count and its fields;
-- then the shard's search index prefix (`tw:{k}:sx:`, bus::search), the number of twins whose
-- index entries change, and per twin: its thing id, its entry count (-1: the twin is gone) and
-- per entry its kind, path and value. The index keys are built here under the prefix: they all
-- carry the shard's hash tag, so they share the slot of KEYS (Redis Cluster).
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
local prefix = ARGV[a]
local ni = tonumber(ARGV[a + 1])
a = a + 2
-- One index entry: 'n' number (score), 's' string and 'b' boolean (member value NUL id),
-- 'e' the path exists, 'a' the twin holds an array (values under it are not indexed).
local function entry(op, kind, path, value, id)
  if kind == 'n' then
    if op == 'add' then redis.call('ZADD', prefix .. 'n:' .. path, value, id)
    else redis.call('ZREM', prefix .. 'n:' .. path, id) end
  elseif kind == 's' or kind == 'b' then
    local key = prefix .. kind .. ':' .. path
    if op == 'add' then redis.call('ZADD', key, 0, value .. '\0' .. id)
    else redis.call('ZREM', key, value .. '\0' .. id) end
  elseif kind == 'e' then
    if op == 'add' then redis.call('SADD', prefix .. 'e:' .. path, id)
    else redis.call('SREM', prefix .. 'e:' .. path, id) end
  elseif kind == 'a' then
    if op == 'add' then redis.call('SADD', prefix .. 'arr', id)
    else redis.call('SREM', prefix .. 'arr', id) end
  end
end
for i = 1, ni do
  local id = ARGV[a]
  local m = tonumber(ARGV[a + 1])
  a = a + 2
  local rec = prefix .. 'rec:' .. id
  local old = redis.call('GET', rec)
  if old then
    local e = cjson.decode(old)
    for j = 1, #e, 3 do
      entry('rem', e[j], e[j + 1], e[j + 2], id)
    end
  end
  if m < 0 then
    redis.call('DEL', rec)
    redis.call('ZREM', prefix .. 'ids', id)
  else
    local new = {}
    for j = 1, m do
      local kind, path, value = ARGV[a], ARGV[a + 1], ARGV[a + 2]
      a = a + 3
      entry('add', kind, path, value, id)
      new[#new + 1] = kind
      new[#new + 1] = path
      new[#new + 1] = value
    end
    if #new > 0 then
      redis.call('SET', rec, cjson.encode(new))
    else
      redis.call('DEL', rec)
    end
    redis.call('ZADD', prefix .. 'ids', 0, id)
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return ids
