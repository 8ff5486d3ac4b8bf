--- Where each AWS service answers.
--
-- Order, as the AWS CLI: AWS_ENDPOINT_URL_<SERVICE> (e.g.
-- AWS_ENDPOINT_URL_CLOUDFORMATION, AWS_ENDPOINT_URL_S3), then
-- AWS_ENDPOINT_URL, then the public endpoint of the region. A custom
-- endpoint (moto on loopback, a proxy) gets path-style S3 addressing.
local M = {}

-- Environment suffix of each service id (the SDKs' "service id" upper-cased
-- with spaces as underscores).
local ENV_NAME = {
  cloudformation = "CLOUDFORMATION", s3 = "S3", sts = "STS", sso = "SSO",
  lambda = "LAMBDA", states = "SFN", glue = "GLUE", sns = "SNS", iam = "IAM",
  events = "EVENTBRIDGE", ec2 = "EC2", logs = "CLOUDWATCH_LOGS", ssm = "SSM",
  athena = "ATHENA",
}

--- The partition of a region ("aws", "aws-cn", "aws-us-gov"): what
-- ${AWS::Partition} is there.
function M.partition(region)
  if region:match("^cn%-") then return "aws-cn" end
  if region:match("^us%-gov%-") then return "aws-us-gov" end
  return "aws"
end

--- The domain of a region's endpoints: what ${AWS::URLSuffix} is there.
function M.dns_suffix(region)
  if region:match("^cn%-") then return "amazonaws.com.cn" end
  return "amazonaws.com"
end
local dns_suffix = M.dns_suffix

--- Resolves the endpoint of a service.
-- @param service string "cloudformation", "s3", "sts", "sso", ...
-- @param region string
-- @param getenv function|nil (defaults to os.getenv)
-- @return { url = "https://host[:port]" (no trailing slash), custom = bool, signing_name = string }
function M.resolve(service, region, getenv)
  getenv = getenv or os.getenv
  local name = ENV_NAME[service] or service:upper()
  local url = getenv("AWS_ENDPOINT_URL_" .. name)
  if url == nil or url == "" then url = getenv("AWS_ENDPOINT_URL") end
  local signing = service == "sso" and "awsssoportal" or service
  if url and url ~= "" then
    return { url = (url:gsub("/+$", "")), custom = true, signing_name = signing }
  end
  local host
  if service == "sso" then
    host = ("portal.sso.%s.%s"):format(region, dns_suffix(region))
  elseif service == "iam" then
    host = "iam." .. dns_suffix(region)
  else
    host = ("%s.%s.%s"):format(service, region, dns_suffix(region))
  end
  return { url = "https://" .. host, custom = false, signing_name = signing }
end

return M
