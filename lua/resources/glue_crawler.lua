--- AWS::Glue::Crawler (Ref returns the crawler name; Tags is a map)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-glue-crawler.html
local t = require("lake.types")

local glue_crawler = { type = "AWS::Glue::Crawler", tags = "map",
  name_property = "Name", name_max = 255 }

glue_crawler.fields = {
  { Name = t.string { max_len = 255 } },
  { Description = t.string { max_len = 2048 } },
  { Role = t.string { required = true } },
  { DatabaseName = t.string {} },
  { Targets = t.object({
    { S3Targets = t.list(t.object {
      { Path = t.string { required = true } },
      { Exclusions = t.list(t.string {}) },
      { ConnectionName = t.string {} },
      { SampleSize = t.integer { min = 1, max = 249 } },
      { EventQueueArn = t.string {} },
      { DlqEventQueueArn = t.string {} },
    }) },
    { CatalogTargets = t.list(t.object {
      { DatabaseName = t.string { required = true } },
      { Tables = t.list(t.string {}, { required = true }) },
      { ConnectionName = t.string {} },
    }) },
  }, { required = true }) },
  { Schedule = t.object { { ScheduleExpression = t.string {} } } },
  { SchemaChangePolicy = t.object {
    { UpdateBehavior = t.enum { "LOG", "UPDATE_IN_DATABASE" } },
    { DeleteBehavior = t.enum { "LOG", "DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE" } },
  } },
  { RecrawlPolicy = t.object {
    { RecrawlBehavior = t.enum { "CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY", "CRAWL_EVENT_MODE" } },
  } },
  { Classifiers = t.list(t.string {}) },
  { Configuration = t.string {} },
  { CrawlerSecurityConfiguration = t.string { max_len = 128 } },
  { TablePrefix = t.string { max_len = 128 } },
  { Tags = t.map(t.string {}) },
}

glue_crawler.attributes = {}

return glue_crawler
