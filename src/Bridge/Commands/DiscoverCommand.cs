using System.Collections.Concurrent;
using System.CommandLine;
using System.Text.Json;
using OspBridge.Bridge.Pairing;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Discovery;
using Spectre.Console;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge discover [--interface &lt;ifname&gt;]... [--timeout &lt;seconds&gt;] [--json]</c>: browses
/// <c>_openscreen._udp</c>. Shows a live table (name, host:port, short fingerprint, TXT ok), or with
/// <c>--json</c> prints one JSON object per agent per line as it is found
/// (<c>name, host, port, addresses, fp, mv, at, sn</c>, plus <c>id</c>, <c>private</c> and, for a peer in our trust
/// store, <c>paired</c> and <c>trustedName</c>); exits after the timeout. A private agent (<c>agent --private</c>) is shown
/// as "private agent &lt;id&gt;" — its random instance name means nothing to a user — or, when we trust it, by the name we
/// learnt after authenticating.
/// </summary>
internal sealed class DiscoverCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var iface = new Option<string[]>("--interface") { Description = "Interface to browse on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to browse before exiting", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "One JSON object per agent per line instead of a table" };
        var command = new Command("discover", "Find Open Screen agents on the LAN (mDNS/DNS-SD)") { iface, timeout, json };
        command.SetAction(async (parseResult, ct) =>
        {
            double secs = CliErrors.RequireSeconds("--timeout", parseResult.GetValue(timeout), 0.001, 86400);
            var log = context.Logger(parseResult, "mdns");
            var known = KnownPeers(context.GetStateDirectory(parseResult));
            await using var mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface)), Logger = log });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            // The browse time counts from the first query (below), not from process start: on a loaded machine the
            // start-up (sockets, JIT) ate most of a 1 s --timeout before a query went out.
            if (parseResult.GetValue(json))
            {
                using var browser = new OspAgentBrowser(mdns, context.Logger(parseResult, "osp.discovery"));
                var printed = new ConcurrentDictionary<string, bool>();
                var pending = new List<Task>();
                var jsonOptions = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
                void Print(OspAgentInfo a)
                {
                    // The latest state (more addresses may have arrived since the agent was first resolved).
                    a = browser.Agents.FirstOrDefault(x => x.InstanceName == a.InstanceName && x.HostName == a.HostName) ?? a;
                    if (!printed.TryAdd(a.InstanceName + "|" + a.Txt.Fingerprint, true)) return;
                    var fields = new Dictionary<string, object?>
                    {
                        ["name"] = a.InstanceName,
                        ["host"] = a.HostName,
                        ["port"] = a.Port,
                        ["addresses"] = a.Addresses.Select(x => x.ToString()).ToArray(),
                        ["fp"] = a.Txt.Fingerprint,
                        ["mv"] = a.Txt.MetadataVersion,
                        ["at"] = a.Txt.AuthToken,
                        ["sn"] = a.Txt.SerialNumber,
                        ["id"] = PeerTrust.IdOf(a.Txt.Fingerprint),
                        ["private"] = a.IsPrivate,
                    };
                    if (known.TryGetValue(a.Txt.Fingerprint, out string? trustedName))
                    {
                        fields["paired"] = true;
                        fields["trustedName"] = trustedName;
                    }
                    string line = JsonSerializer.Serialize(fields, jsonOptions);
                    line = TerminalText.EscapeJson(line); // exact values; no raw C1/bidi characters reach the terminal
                    lock (printed)
                    {
                        Console.Out.WriteLine(line);
                        Console.Out.Flush();
                    }
                }
                // Responders often send A and AAAA in separate packets: give the other family 150 ms to arrive.
                browser.AgentAdded += a =>
                {
                    lock (pending) pending.Add(Task.Run(async () =>
                    {
                        try { await Task.Delay(150, stop.Token); } catch (OperationCanceledException) { }
                        Print(a);
                    }));
                };
                await browser.StartAsync(ct);
                stop.CancelAfter(TimeSpan.FromSeconds(secs));
                await WaitAsync(stop.Token);
                Task[] left;
                lock (pending) left = pending.ToArray();
                await Task.WhenAll(left);
                return 0;
            }

            var rows = new ConcurrentDictionary<string, (string Name, string HostPort, string Fp, string TxtOk)>();
            mdns.ServiceChanged += e =>
            {
                var s = e.Service!;
                string key = s.FullName.ToString();
                if (e.Kind == MdnsQuerierEventKind.ServiceRemoved) { rows.TryRemove(key, out _); return; }
                var txt = OspTxt.TryParse(s.Txt.Properties, out string? error);
                string fp = txt?.Fingerprint ?? s.Txt.Properties.GetString("fp") ?? "";
                rows[key] = (DisplayName(s.InstanceName, txt?.Fingerprint, known),
                    $"{s.HostName}:{s.Port}", fp.Length > 12 ? fp[..12] + "…" : fp, txt is null ? "no: " + error : "yes");
            };
            await mdns.BrowseAsync(OspDiscovery.ServiceType, ct);
            stop.CancelAfter(TimeSpan.FromSeconds(secs));
            Table Render()
            {
                var table = new Table().AddColumns("Name", "Host:port", "Fingerprint", "TXT ok");
                foreach (var r in rows.Values.OrderBy(r => r.Name, StringComparer.Ordinal))
                    table.AddRow(Cell(r.Name), Cell(r.HostPort), Cell(r.Fp), Cell(r.TxtOk));
                return table;
            }
            if (Console.IsOutputRedirected)
            {
                await WaitAsync(stop.Token);
                AnsiConsole.Write(Render());
                return 0;
            }
            await AnsiConsole.Live(Render()).StartAsync(async live =>
            {
                while (!stop.IsCancellationRequested)
                {
                    live.UpdateTarget(Render());
                    await WaitAsync(stop.Token, 250);
                }
                live.UpdateTarget(Render());
            });
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The name column: the instance name as advertised, except for a private agent, whose random name means nothing —
    /// "private agent &lt;id&gt;" (the id <c>pair</c> takes), or "&lt;name we trust&gt; (private)" once paired.
    /// </summary>
    internal static string DisplayName(string instanceName, string? fingerprint, IReadOnlyDictionary<string, string> known)
    {
        if (!OspInstanceName.IsPrivate(instanceName) || fingerprint is null)
            return OspInstanceName.WithoutMarker(instanceName) + (OspInstanceName.IsTruncated(instanceName) ? "…" : "");
        return known.TryGetValue(fingerprint, out string? name) ? name + " (private)" : "private agent " + PeerTrust.IdOf(fingerprint);
    }

    /// <summary>
    /// Trusted peers of the state directory by fingerprint → the name learnt when authenticating; empty when the
    /// directory has no trust store (discover never creates one).
    /// </summary>
    private static Dictionary<string, string> KnownPeers(string stateDirectory)
    {
        if (!File.Exists(Path.Combine(stateDirectory, "trust.json"))) return [];
        return PeerTrust.Open(stateDirectory).List().ToDictionary(p => p.Fingerprint, p => p.Name, StringComparer.Ordinal);
    }

    /// <summary>A table cell from network data: terminal controls escaped (<see cref="TerminalText"/>), then markup.</summary>
    private static string Cell(string text) => Markup.Escape(TerminalText.Sanitize(text));

    private static async Task WaitAsync(CancellationToken ct, int ms = Timeout.Infinite)
    {
        try { await Task.Delay(ms, ct); }
        catch (OperationCanceledException) { }
    }
}
