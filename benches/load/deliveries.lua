-- wrk script: POSTs a signed text delivery with a distinct MsgId on every request.
-- The query is signed once (the platform signs token, timestamp and nonce, not the body) with the
-- time the run starts, inside the endpoint's 300 s replay window.
local query = os.getenv("QUERY")
local thread_number = 0
local counter = 0

function setup(thread)
  thread_number = thread_number + 1
  thread:set("thread_number", thread_number)
end

function init(args)
  -- MsgIds distinct across threads and runs: the run's start time, the thread, a counter.
  base = (tonumber(os.getenv("RUN")) or 0) * 1000000000 + (thread_number or 0) * 100000000
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"

function request()
  counter = counter + 1
  local body = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>"
    .. "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content>"
    .. "<MsgId>" .. string.format("%d", base + counter) .. "</MsgId></xml>"
  return wrk.format(nil, "/?" .. query, nil, body)
end
