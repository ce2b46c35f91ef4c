using System.CommandLine;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Trust;

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
            var trust = PeerTrust.Open(stateDir);
            using var prompts = ConsolePrompts.ForConsole();
            var host = new ConsolePairingHost(Console.Error, decorate: false, prompts, pinOption, context.Logger(parseResult, "osp.auth"));
            // pair always pairs with a PIN, also with a peer we trust: it is how a peer that revoked us is paired again.
            await using var session = await PeerClient.ConnectAsync(identity, trust, which, a => PeerFinder.Matches(a, which, PeerTrust.IdOf),
                host, forcePin: true, interfaces, TimeSpan.FromSeconds(secs),
                context.Logger(parseResult, "mdns"), context.Logger(parseResult, "osp"), ct,
                vet: (agent, seen) => Vet(trust, which, agent, seen), instanceHints: PeerFinder.HintFor(which));
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

    /// <summary>
    /// The suspicious-agent rules for the agent about to be paired: every warning goes to stderr; an agent that
    /// advertises a trusted peer's name with another key is refused and flagged in the trust store (never treated as,
    /// nor merged into, the trusted peer; revoke that peer first to replace its key).
    /// </summary>
    private static void Vet(OspTrustStore trust, string which, OspAgentInfo agent, IReadOnlyList<OspAgentInfo> seen)
    {
        var observed = OspPeerObservation.FromAgentInfo(agent);
        trust.Reload();
        var warnings = OspSuspicionRules.Evaluate(trust.Peers, observed, seen.Select(OspPeerObservation.FromAgentInfo).ToList());
        new ConsoleConsentHost(null, acceptAll: false, commandLineNamesPeer: true, Console.Error).Warn(warnings);
        if (warnings.FirstOrDefault(w => w.Kind == OspSuspicionKind.TrustedNameWithNewFingerprint) is { } impostor)
        {
            trust.RecordSuspicious(observed.Fingerprint, observed.DisplayName);
            string trustedId = impostor.RelatedFingerprint is { } f ? PeerTrust.IdOf(f) : "?";
            throw new CliException($"{which}: refused: it advertises the name of trusted peer {trustedId} with another key ({PeerTrust.IdOf(observed.Fingerprint)}); flagged. To replace that peer's key, revoke it first: ospbridge peers revoke {trustedId}");
        }
    }
}
