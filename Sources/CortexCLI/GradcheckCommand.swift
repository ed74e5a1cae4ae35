import Cortex
import Foundation

/// `cortex gradcheck`: checks every differentiable operation against
/// central differences and prints a table.
struct GradcheckCommand: Command {
  let name = "gradcheck"
  let abstract = "Check every differentiable operation's gradient numerically"
  let help = """
    usage: cortex gradcheck [--filter TEXT] [--order 1|2]

    Checks the analytic gradient of every differentiable operation in Double
    against central differences (step 1e-6) and prints op, shapes, max
    relative error and pass/fail, then the same for every built-in layer,
    with respect to its input and each trainable parameter (the worst one
    named). An element passes when |analytic - numeric| <= 1e-5 + 1e-3 *
    |numeric| (PyTorch gradcheck's rule and defaults); the relative error
    printed is |analytic - numeric| / (|numeric| + 1e-2), at most 1e-3
    exactly when every element passes. Exits with 1 if any fails.

    With --order 2 it checks the gradient of the gradient instead (PyTorch's
    gradgradcheck): the nested backward pass against central differences of
    the first-order gradient (step 1e-5, the same rule). An operation whose
    pullback is not differentiable fails, named.

    options:
      --filter TEXT   only operations and layers whose name contains TEXT
      --order N       1 (the default) or 2
    """

  /// The checks the arguments select and the order, or a thrown
  /// ``CommandLineError``.
  func checks(for arguments: [String]) throws -> (
    checks: [OperationCheck], layers: [LayerCheck], order: Int
  ) {
    let options = try Arguments(arguments, valueOptions: ["filter", "order"], flagOptions: [])
    let order = try options.int("order", default: 1, range: 1...2)
    guard options.positional.isEmpty else {
      throw CommandLineError("gradcheck takes no positional arguments, found \(options.positional)")
    }
    let filter = options.string("filter")?.lowercased()
    let checks = OperationCheck.all.filter {
      filter == nil || $0.name.lowercased().contains(filter!)
    }
    let layers = LayerCheck.all.filter {
      filter == nil || $0.name.lowercased().contains(filter!)
    }
    guard !checks.isEmpty || !layers.isEmpty else {
      throw CommandLineError("no operation or layer matches '\(filter ?? "")'")
    }
    return (checks, layers, order)
  }

  func run(_ arguments: [String]) throws -> Int32 {
    let (checks, layers, order) = try checks(for: arguments)
    let nameWidth = max(9, (checks.map(\.name.count) + layers.map(\.name.count)).max() ?? 0)
    let shapeWidth = max(6, (checks.map(\.shapes.count) + layers.map(\.shape.count)).max() ?? 0)
    func row(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
      a.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
        + b.padding(toLength: shapeWidth, withPad: " ", startingAt: 0) + "  "
        + c.padding(toLength: 12, withPad: " ", startingAt: 0) + "  " + d
    }
    try say(row("operation", "shapes", "max rel err", "result"))
    var failures = 0
    for check in checks {
      guard let report = order == 1 ? check.run() : check.runSecondOrder?() else {
        try say(row(check.name, check.shapes, "-", "no second-order check"))
        continue
      }
      if !report.passed { failures += 1 }
      try say(
        row(
          check.name, check.shapes, String(format: "%.2e", report.maxRelativeError),
          report.passed ? "pass" : "FAIL" + undifferentiable(report)))
    }
    if !layers.isEmpty {
      try say("")
      try say(row("layer", "input", "max rel err", "result (worst tensor)"))
    }
    for layer in layers {
      let report = layer.run(.full, order)
      if !report.passed { failures += 1 }
      let worst = report.inputs.max { $0.maxRelativeError < $1.maxRelativeError }
      try say(
        row(
          layer.name, layer.shape, String(format: "%.2e", report.maxRelativeError),
          (report.passed ? "pass" : "FAIL") + (worst?.name.map { " (\($0))" } ?? "")
            + undifferentiable(report)))
    }
    let total = checks.count + layers.count
    try say("\(total - failures) passed, \(failures) failed")
    return failures == 0 ? 0 : 1
  }

  /// Names the operation a second-order check could not differentiate.
  private func undifferentiable(_ report: GradientCheckReport) -> String {
    report.undifferentiableOperation.map { ": the pullback of '\($0)' is not differentiable" }
      ?? ""
  }
}
