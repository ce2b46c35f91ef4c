using System.CommandLine;
using System.Runtime.InteropServices;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Discovery;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge advertise --name &lt;display name&gt; [--port &lt;udp port&gt;] [--interface &lt;ifname&gt;]... [--state-dir &lt;dir&gt;]</c>:
/// advertises this agent as <c>_openscreen._udp</c> until Ctrl-C / SIGTERM, then sends goodbyes.
/// Prints one line <c>advertising '&lt;instance&gt;' host=&lt;hostname&gt; port=&lt;port&gt; fp=&lt;fp&gt;</c> once probing
/// succeeded, and <c>renamed '&lt;instance&gt;'</c> after a conflict.
/// </summary>
internal sealed class AdvertiseCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var name = new Option<string>("--name") { Description = "Display name (the instance name is its prefix, ≤ 63 octets)", Required = true };
        var port = new Option<int>("--port") { Description = "UDP port of the QUIC server to advertise", DefaultValueFactory = _ => 4433 };
        var iface = new Option<string[]>("--interface") { Description = "Interface to advertise on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var ttl = new Option<int?>("--ttl") { Description = "Record TTL in seconds for all records (default: RFC 6762 120 s / 75 min; short values for tests)" };
        var command = new Command("advertise", "Advertise this OSP agent with mDNS/DNS-SD until interrupted") { name, port, iface, ttl };
        command.SetAction(async (parseResult, ct) =>
        {
            context.InterruptGrace = CliContext.ServerInterruptGrace; // an orderly shutdown after SIGINT/SIGTERM
            string display = CliErrors.RequireNonEmpty("--name", parseResult.GetValue(name));
            int p = CliErrors.RequirePort("--port", parseResult.GetValue(port), allowZero: false);
            int? t = parseResult.GetValue(ttl);
            if (t is < 1 or > 86400) throw new CliException("--ttl must be 1..86400 seconds");
            string stateDir = context.GetStateDirectory(parseResult);
            string instance = OspInstanceName.FromDisplayName(display);
            using var identity = AgentIdentity.LoadOrCreate(stateDir, instance);
            ulong mv = OspMetadataVersion.LoadOrBump(stateDir, display, identity.ModelName);
            var responder = t is int s
                ? new MdnsResponderOptions { HostRecordTtl = TimeSpan.FromSeconds(s), OtherRecordTtl = TimeSpan.FromSeconds(s) }
                : new MdnsResponderOptions();
            var log = context.Logger(parseResult, "mdns");
            await using var mdns = MdnsService.Start(new MdnsServiceOptions
            {
                Interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface)),
                Responder = responder,
                Logger = log,
            });
            var advertiser = await OspAgentAdvertiser.StartAsync(mdns, identity, (ushort)p, mv, context.Logger(parseResult, "osp.advertise"), ct);
            advertiser.Renamed += n => Console.Out.WriteLine($"renamed '{TerminalText.Sanitize(OspInstanceName.WithoutMarker(n))}' host={identity.Hostname} sn={identity.SerialBase64Url}");
            try
            {
                try { await advertiser.WaitEstablishedAsync(ct).WaitAsync(TimeSpan.FromSeconds(5), ct); }
                catch (TimeoutException) { /* still probing (e.g. a conflict storm): say what we advertise anyway */ }
                Console.Out.WriteLine($"advertising '{TerminalText.Sanitize(OspInstanceName.WithoutMarker(advertiser.InstanceName))}' host={identity.Hostname} port={p} fp={identity.Fingerprint} mv={mv} interfaces={string.Join(',', mdns.Interfaces.Select(i => i.Name))}");
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }
            await advertiser.DisposeAsync(); // goodbyes (TTL 0)
            Console.Out.WriteLine("stopped");
            return 0;
        });
        return command;
    }
}
