using System.CommandLine;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge resolve &lt;name&gt;.local [--interface &lt;ifname&gt;]... [--timeout &lt;s&gt;]</c>: resolves a host name
/// with mDNS (A/AAAA) and prints one address per line; exit code 1 when nothing answered in time.
/// </summary>
internal sealed class ResolveCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "Host name ending in .local (e.g. a WebRTC <uuid>.local candidate)" };
        var iface = new Option<string[]>("--interface") { Description = "Interface to query on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for an answer", DefaultValueFactory = _ => 3 };
        var command = new Command("resolve", "Resolve a .local host name with multicast DNS") { name, iface, timeout };
        command.SetAction(async (parseResult, ct) =>
        {
            string host = parseResult.GetValue(name)!.TrimEnd('.');
            if (!host.EndsWith(".local", StringComparison.OrdinalIgnoreCase)) throw new CliException("the name must end in .local");
            double secs = CliErrors.RequireSeconds("--timeout", parseResult.GetValue(timeout), 0.001, 3600);
            await using var mdns = MdnsService.Start(new MdnsServiceOptions
            {
                Interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface)),
                Logger = context.Logger(parseResult, "mdns"),
            });
            var addrs = await mdns.ResolveHostAsync(DnsName.Parse(host), TimeSpan.FromSeconds(secs), ct);
            if (addrs.Count == 0)
            {
                await Console.Error.WriteLineAsync($"ospbridge: {host}: no answer within {secs} s");
                return 1;
            }
            foreach (var a in addrs) Console.Out.WriteLine(TerminalText.Sanitize(a.ToString())); // scope IDs carry interface names
            return 0;
        });
        return command;
    }
}
