-- Tests of phoenix_hypervisor_setup_901.lua.
local container = { gpu_assignment = "0,1" }
local lxc = { nvidia_driver_version = "580.76.06" }
local two_gpus = "0, NVIDIA GeForce RTX 5060 Ti, 580.76.06\n1, NVIDIA GeForce RTX 5060 Ti, 580.76.06\n"

test("both GPUs with the configured driver", function(t)
  local r = t.run{ container = container, lxc = lxc, exec = { { "^nvidia%-smi", stdout = two_gpus } } }
  t.ok(r.ok, r.error)
  t.eq(#r.logs, 2)
  t.match(r.logs[2].message, "^GPU 1: NVIDIA GeForce RTX 5060 Ti, driver 580%.76%.06$")
end)

test("a driver mismatch fails", function(t)
  local r = t.run{ container = container, lxc = lxc,
    exec = { { "^nvidia%-smi", stdout = "0, RTX, 570.1\n1, RTX, 570.1\n" } } }
  t.ok(not r.ok)
  t.match(r.message, "GPU 0 runs driver 570%.1, the configuration wants 580%.76%.06")
end)

test("a missing GPU fails", function(t)
  local r = t.run{ container = container, lxc = lxc,
    exec = { { "^nvidia%-smi", stdout = "0, RTX, 580.76.06\n" } } }
  t.ok(not r.ok)
  t.match(r.message, "lists 1 GPU%(s%), gpu_assignment \"0,1\" wants 2")
end)

test("nvidia-smi missing fails with advice", function(t)
  local r = t.run{ container = container, lxc = lxc,
    exec = { { "^nvidia%-smi", code = 127, stderr = "nvidia-smi: not found" } } }
  t.ok(not r.ok)
  t.eq(r.line, 9)
  t.match(r.message, "exit 127%): nvidia%-smi: not found; check the driver")
end)

test("dry-run only records the check", function(t)
  local r = t.run{ container = container, lxc = lxc, dry_run = true }
  t.ok(r.ok, r.error)
  t.eq(#r.calls, 1)
  t.match(r.logs[1].message, "would check 2 GPU")
end)
