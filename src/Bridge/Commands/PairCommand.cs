using System.CommandLine;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge pair &lt;peer&gt; [--pin &lt;pin&gt;] [--timeout &lt;s&gt;] [--interface &lt;if&gt;]...</c>: finds the agent
/// (name, id or fingerprint prefix) with mDNS, connects and pairs with the PIN the agent presents (from
/// <c>--pin</c>, else one line on stdin, prompted on a terminal). Prints <c>paired &lt;name&gt; &lt;id&gt; &lt;fp&gt;</c>
/// and exits 0 once the peer is trusted; a wrong PIN prints <c>ospbridge: authentication failed</c>, exits 1 and
/// leaves the trust store unchanged.
/// </summary>
internal sealed class PairCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var peer = new Argument<string>("peer") { Description = "The agent: display name, id or fingerprint prefix (≥ 6 characters)" };
        var pin = new Option<string?>("--pin") { Description = "The PIN the agent shows (default: read one line from stdin)" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to find and connect to the agent", DefaultValueFactory = _ => 30 };
        var iface = new Option<string[]>("--interface") { Description = "Interface to browse on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("pair", "Pair with an agent using the PIN it presents") { peer, pin, timeout, iface };
        command.SetAction((parseResult, ct) => CliGuard.RunAsync(async () =>
        {
            string which = parseResult.GetValue(peer)!;
            double secs = parseResult.GetValue(timeout);
            if (secs is <= 0 or > 3600) throw new CliException("--timeout must be between 0 and 3600 seconds");
            var interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            string? pinOption = parseResult.GetValue(pin);
            string stateDir = context.GetStateDirectory(parseResult);
            using var identity = AgentIdentity.LoadOrCreate(stateDir);
            using var trust = PeerTrust.Open(stateDir, context.Logger(parseResult, "osp.trust"));
            using var prompts = ConsolePrompts.ForConsole();
            var host = new ConsolePairingHost(Console.Error, decorate: false, prompts, pinOption, context.Logger(parseResult, "osp.auth"));
            await using var session = await PeerClient.ConnectAsync(identity, trust, which, a => PeerFinder.Matches(a, which, PeerTrust.IdOf),
                host, interfaces, TimeSpan.FromSeconds(secs),
                context.Logger(parseResult, "mdns"), context.Logger(parseResult, "osp"), ct);
            var result = session.Result;
            if (result.Outcome != PairingOutcome.Authenticated)
            {
                await Console.Error.WriteLineAsync(result.Outcome == PairingOutcome.Refused
                    ? $"ospbridge: {which} refused pairing" + (result.Message is null ? "" : ": " + result.Message)
                    : "ospbridge: authentication failed");
                return 1;
            }
            var p = result.Peer!;
            Console.Out.WriteLine($"paired {p.Name} {p.Id} {p.Fingerprint}");
            return 0;
        }));
        return command;
    }
}
