-- Runs busted inside the lakehost binary, so that specs can require the
-- host.* modules: `./lakehost spec/run.lua [busted options] [paths]`.
require("busted.runner")({ standalone = false })
