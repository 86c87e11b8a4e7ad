-- Moves the projection's position forward once every slot of a batch is
-- applied.
--
-- KEYS[1]  <prefix>{btn}:pos
-- ARGV[1]  first sequence of the batch
-- ARGV[2]  last sequence of the batch
--
-- If the position does not exist (Redis lost the projection) and the batch
-- does not start at 1, nothing is written and the reply is an error
-- starting with FLUSHED. The position never moves back.
local pos = redis.call('GET', KEYS[1])
if not pos and tonumber(ARGV[1]) > 1 then
  return redis.error_reply('FLUSHED the projection has no position but the batch starts at ' .. ARGV[1])
end
if not pos or tonumber(pos) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[2])
end
return 'OK'
