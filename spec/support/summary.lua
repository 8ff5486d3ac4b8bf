-- busted output handler: the plain terminal output, then one closing line
-- "N passed, N failed[, N skipped]" that CI reads. Errors count as failures.
return function(options)
  local busted = require("busted")
  local handler = require("busted.outputHandlers.plainTerminal")(options)

  busted.subscribe({ "suite", "end" }, function()
    local failed = handler.failuresCount + handler.errorsCount
    local line = ("%d passed, %d failed"):format(handler.successesCount, failed)
    if handler.pendingsCount > 0 then
      line = line .. (", %d skipped"):format(handler.pendingsCount)
    end
    io.stdout:write("\n", line, "\n")
    io.stdout:flush()
    return nil, true
  end, { priority = 2 })

  return handler
end
