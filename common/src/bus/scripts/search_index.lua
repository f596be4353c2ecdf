-- The search index's upkeep (bus::search), prepended to commit.lua and search_backfill.lua, which
-- call apply_index(a) on their index section starting at ARGV[a]:
-- the shard's index prefix (`tw:{k}:sx:`), the number of twins whose entries change, and per
-- twin: its thing id, its entry count (-1: the twin is gone) and per entry its kind, path and
-- value. Each twin's previous entries (its record, `sx:rec:<id>`) are removed before the new ones
-- are added. The index keys are built here under the prefix: they all carry the shard's hash tag,
-- so they share the slot of the calling script's KEYS (Redis Cluster).

-- One index entry: 'n' number (score), 's' string and 'b' boolean (member value NUL id),
-- 'e' the path exists, 'a' the twin holds an array (values under it are not indexed).
local function index_entry(prefix, op, kind, path, value, id)
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

local function apply_index(a)
  local prefix = ARGV[a]
  local ni = tonumber(ARGV[a + 1])
  a = a + 2
  for i = 1, ni do
    local id = ARGV[a]
    local m = tonumber(ARGV[a + 1])
    a = a + 2
    local rec = prefix .. 'rec:' .. id
    local old = redis.call('GET', rec)
    if old then
      local e = cjson.decode(old)
      for j = 1, #e, 3 do
        index_entry(prefix, 'rem', e[j], e[j + 1], e[j + 2], id)
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
        index_entry(prefix, 'add', kind, path, value, id)
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
  return a
end

