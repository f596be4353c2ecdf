-- Extends shard lease KEYS[1] if it still holds token ARGV[1], by ARGV[2] ms. Returns 1 if so.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
