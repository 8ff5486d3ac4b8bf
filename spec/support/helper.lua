-- Loaded by busted before the specs (see .busted). Nothing global here:
-- specs require("spec.support.util") for their helpers.
package.path = "./?.lua;" .. package.path
