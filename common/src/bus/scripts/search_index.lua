-- The search index's upkeep (bus::search), prepended to commit.lua and search_backfill.lua, which
-- call apply_index(a) on their index section starting at ARGV[a]:
-- the shard's index prefix (`tw:{k}:sx:`), the number of twins whose entries change, and per
-- twin: its thing id, its entry count (-1: the twin is gone) and per entry its kind, path and
-- value. Each twin's previous entries (its record, `sx:rec:<id>`) are compared with the new ones:
-- only those that went are removed and only those that came are added. The index keys are built
-- here under the prefix: they all carry the shard's hash tag, so they share the slot of the
-- calling script's KEYS (Redis Cluster).

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
    -- Only the entries that differ are written: a change to one attribute touches its own
    -- entries and the special fields' (revision, modified), not every path of the twin. A twin
    -- has one value per kind and path, and a kind is one letter: `kind .. path` names an entry.
    local new = {}
    local wanted = {}
    if m > 0 then
      for j = 1, m do
        local kind, path, value = ARGV[a], ARGV[a + 1], ARGV[a + 2]
        a = a + 3
        new[#new + 1] = kind
        new[#new + 1] = path
        new[#new + 1] = value
        wanted[kind .. path] = value
      end
    end
    local had = {}
    if old then
      local e = cjson.decode(old)
      for j = 1, #e, 3 do
        local k = e[j] .. e[j + 1]
        had[k] = e[j + 2]
        if wanted[k] ~= e[j + 2] then
          index_entry(prefix, 'rem', e[j], e[j + 1], e[j + 2], id)
        end
      end
    end
    if m < 0 then
      redis.call('DEL', rec)
      redis.call('ZREM', prefix .. 'ids', id)
    else
      -- After every removal: a number's entry is its id's score, which a removal would drop.
      for j = 1, #new, 3 do
        if had[new[j] .. new[j + 1]] ~= new[j + 2] then
          index_entry(prefix, 'add', new[j], new[j + 1], new[j + 2], id)
        end
      end
      if #new > 0 then
        local encoded = cjson.encode(new)
        if encoded ~= old then
          redis.call('SET', rec, encoded)
        end
      else
        redis.call('DEL', rec)
      end
      if not old then
        redis.call('ZADD', prefix .. 'ids', 0, id)
      end
    end
  end
  return a
end
