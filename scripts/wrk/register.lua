-- wrk script: one registration submit per request, each a new person. Used by scripts/bench and
-- scripts/bench-registration (`wrk -s scripts/wrk/register.lua`).
-- Environment: RUN_OFFSET (default 0) moves the ID range, so a warm-up and a run never submit the
-- same person; BENCH_TOKEN (default none = the public) is sent as the bearer token.
--
-- A valid citizen ID per request: county 510402, a birth date in 1950..1999 and a sequence number
-- unique per thread and request, with the GB 11643 check character. Names come from a pool of
-- 20 surnames x 30 x 31 given names, as a city's are spread: every person compared for 一人多号 is
-- compared with their namesakes, and one name shared by every submit would make each one compare
-- with all that came before.
local weights = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
local checks = "10X98765432"
local surnames = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高"}
local given = {"伟", "芳", "娜", "秀", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
  "涛", "明", "超", "兰", "霞", "平", "刚", "英", "华", "志", "海", "燕", "东", "梅", "玉"}
local offset = tonumber(os.getenv("RUN_OFFSET") or "0")
local token = os.getenv("BENCH_TOKEN")
local counter = 0
local threads = 0
setup = function(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end
local function citizen_id(n)
  local day = n % 18000                 -- ~49 years of days from 1950-01-01
  local t = os.time({year = 1950, month = 1, day = 1, hour = 12}) + day * 86400
  local birth = os.date("!%Y%m%d", t)
  local seq = math.floor(n / 18000) % 1000
  local body = "510402" .. birth .. string.format("%03d", seq)
  local sum = 0
  for i = 1, 17 do sum = sum + tonumber(body:sub(i, i)) * weights[i] end
  local c = (sum % 11) + 1
  return body .. checks:sub(c, c)
end
local function name(n)
  local h = (n * 2654435761) % 4294967296
  local s = surnames[h % #surnames + 1]
  local g1 = given[math.floor(h / 20) % #given + 1]
  local k = math.floor(h / 600) % (#given + 1)
  return s .. g1 .. (k == #given and "" or given[k + 1])
end
local headers = {["Content-Type"] = "application/json"}
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
request = function()
  counter = counter + 1
  local n = (tonumber(thread_no) or 0) * 9000000 + offset + counter
  local body = string.format(
    '{"id_number":"%s","name":"%s","ethnicity":"01","hukou_region":"510402001","residence_address":"东区示例街道一新华街%d号","residence_region":"510402001001","phone":"13812345678","employment_status":"flexible","insurance":[{"scheme":"390","status":"active"}]}',
    citizen_id(n), name(n), counter % 500)
  return wrk.format("POST", "/api/v1/registrations", headers, body)
end
