-- The search index's upkeep (bus::search), prepended to commit.lua and search_backfill.lua, which
-- call apply_index(a) on their index section starting at ARGV[a]:
-- the shard's index prefix (`tw:{k}:sx:`), the number of twins whose entries change, and per
-- twin: its thing id, what happens to it in the shard's id list ('+' added, '-' removed, '' kept),
-- the number of entries to remove and per entry its kind, path and value, then the same for the
-- entries to add. The hub computes these from the twin before and after (hub/src/search/index.rs):
-- the script reads and decodes nothing. Removals go first. The index keys are built here under
-- the prefix: they all carry the shard's hash tag, so they share the slot of the calling
-- script's KEYS (Redis Cluster).

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
    local ids = ARGV[a + 1]
    a = a + 2
    for _, op in ipairs({'rem', 'add'}) do
      local n = tonumber(ARGV[a])
      a = a + 1
      for j = 1, n do
        index_entry(prefix, op, ARGV[a], ARGV[a + 1], ARGV[a + 2], id)
        a = a + 3
      end
    end
    if ids == '+' then
      redis.call('ZADD', prefix .. 'ids', 0, id)
    elseif ids == '-' then
      redis.call('ZREM', prefix .. 'ids', id)
    end
  end
  return a
end
