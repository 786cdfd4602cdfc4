-- wrk: POST a fresh check-in each request, rotating over the patients' tokens.
local tokens = {}
local recorded_at = os.getenv("BENCH_RECORDED_AT")
for token in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do
  tokens[#tokens + 1] = token
end
local counter = 0

-- Each wrk run (bench/checkins.py gives a fresh BENCH_SEED to each) makes other ids: a
-- round's check-ins must be new ones, never the previous round's sent again.
math.randomseed(tonumber(os.getenv("BENCH_SEED") or os.time()))

function setup(thread)
  thread:set("thread_seed", math.random(1, 2147483647))
end

function init(args)
  math.randomseed(thread_seed or os.time())
end

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(template, "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local pain = counter % 11
  local body = string.format(
    '{"id":"%s","recorded_at":"%s","pain":%d,"temperature_c":37.1,"bleeding":"spotting",' ..
    '"discharge":"none","urination":"normal","allergy":"none","nausea":false,' ..
    '"wants_contact":false,"note":""}',
    uuid4(), recorded_at, pain)
  return wrk.format("POST", "/api/v1/me/checkins", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
