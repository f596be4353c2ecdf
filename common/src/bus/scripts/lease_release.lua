-- Drops shard lease KEYS[1] if it still holds token ARGV[1]. Returns 1 if so.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
