--- AWS::Glue::Database (Ref returns the database name; no tags in CloudFormation)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-glue-database.html
local t = require("lake.types")

local glue_database = { type = "AWS::Glue::Database" }

glue_database.fields = {
  { CatalogId = t.string { required = true } },
  { DatabaseInput = t.object({
    { Name = t.string { max_len = 255 } },
    { Description = t.string { max_len = 2048 } },
    { LocationUri = t.string { max_len = 1024 } },
    { Parameters = t.any {} },
    { CreateTableDefaultPermissions = t.list(t.object {
      { Permissions = t.list(t.enum { "ALL", "ALTER", "CREATE_DATABASE", "CREATE_TABLE",
        "DATA_LOCATION_ACCESS", "DELETE", "DROP", "INSERT", "SELECT" }) },
      { Principal = t.object { { DataLakePrincipalIdentifier = t.string { max_len = 255 } } } },
    }) },
  }, { required = true }) },
  { DatabaseName = t.string {} },
}

glue_database.attributes = {}

return glue_database
