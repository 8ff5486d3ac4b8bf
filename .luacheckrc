-- luacheck configuration: no globals anywhere except what each context
-- really has (busted's DSL in specs, `arg` in scripts).
std = "lua54"
max_line_length = 170
ignore = { "212/_.*", "213/_.*" } -- unused arguments/loop variables named _x

files["spec/"] = { std = "+busted" }
files["bench/"] = { read_globals = { "arg" } }
files["tools/"] = { read_globals = { "arg" } }
files["spec/run.lua"] = { read_globals = { "arg" } }
