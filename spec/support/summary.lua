-- busted output handler: the plain terminal output, then "N skipped" when
-- specs were skipped, and last one closing line "N passed, N failed" that CI
-- reads. Errors count as failures.
return function(options)
  local busted = require("busted")
  local handler = require("busted.outputHandlers.plainTerminal")(options)

  busted.subscribe({ "suite", "end" }, function()
    local failed = handler.failuresCount + handler.errorsCount
    io.stdout:write("\n")
    if handler.pendingsCount > 0 then io.stdout:write(("%d skipped\n"):format(handler.pendingsCount)) end
    io.stdout:write(("%d passed, %d failed\n"):format(handler.successesCount, failed))
    io.stdout:flush()
    return nil, true
  end, { priority = 2 })

  return handler
end
