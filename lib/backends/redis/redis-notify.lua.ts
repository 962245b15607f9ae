/**
 * Publishes ARGV[3..] on the project's channel as `<channel>\n<message>` (ARGV[1] = P,
 * ARGV[2] = the notify channel: wake, result or control). KEYS[1] = P..'notify' routes it.
 */
export const NOTIFY_LUA = `
local channel = ARGV[1] .. 'notify'
for i = 3, #ARGV do
  redis.call('PUBLISH', channel, ARGV[2] .. '\\n' .. ARGV[i])
end
return #ARGV - 2
`;
