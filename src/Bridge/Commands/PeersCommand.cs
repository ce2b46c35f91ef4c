using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OspBridge.Bridge.Pairing;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge peers [--json]</c>: lists the trusted (paired) peers of this agent — a table, or with
/// <c>--json</c> one object per line <c>{id, name, fp, firstSeen, lastSeen, apps}</c> (<c>apps</c>: the applications
/// granted the use of the peer, LP2P per-app grants).
/// <c>ospbridge peers revoke &lt;peer&gt;</c>: forgets a peer (name, id or fingerprint prefix); its next
/// connection needs a PIN again. Prints <c>revoked &lt;name&gt; &lt;id&gt; &lt;fp&gt;</c>.
/// <c>ospbridge peers revoke &lt;peer&gt; --app &lt;app&gt;</c>: revokes one application's grant only (the pairing stays);
/// prints <c>revoked &lt;app&gt; on &lt;name&gt; &lt;id&gt;</c>.
/// </summary>
internal sealed class PeersCommand : ICliCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public Command Build(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "One JSON object per peer per line: id, name, fp, firstSeen, lastSeen, apps" };
        var command = new Command("peers", "List the peers this agent is paired with (the trust store)") { json };
        command.SetAction((parseResult, _) =>
        {
            var trust = PeerTrust.Open(context.GetStateDirectory(parseResult));
            var peers = trust.List().OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ThenBy(p => p.Id, StringComparer.Ordinal).ToList();
            if (parseResult.GetValue(json))
            {
                foreach (var p in peers)
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                    {
                        ["id"] = p.Id,
                        ["name"] = p.Name,
                        ["fp"] = p.Fingerprint,
                        ["firstSeen"] = p.FirstSeen.ToString("O", CultureInfo.InvariantCulture),
                        ["lastSeen"] = p.LastSeen.ToString("O", CultureInfo.InvariantCulture),
                        ["apps"] = p.Apps,
                    }, JsonOptions));
                }
                return Task.FromResult(0);
            }
            if (peers.Count == 0)
            {
                Console.Out.WriteLine("no paired peers");
                return Task.FromResult(0);
            }
            int nameWidth = Math.Max(4, peers.Max(p => p.Name.Length));
            int idWidth = Math.Max(2, peers.Max(p => p.Id.Length));
            Console.Out.WriteLine($"{"NAME".PadRight(nameWidth)}  {"ID".PadRight(idWidth)}  {"LAST SEEN",-20}  {"FINGERPRINT",-44}  APPS");
            foreach (var p in peers)
            {
                string last = p.LastSeen.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                string apps = p.Apps.Count == 0 ? "-" : string.Join(',', p.Apps.Select(CliErrors.OneLine));
                Console.Out.WriteLine($"{p.Name.PadRight(nameWidth)}  {p.Id.PadRight(idWidth)}  {last,-20}  {p.Fingerprint,-44}  {apps}");
            }
            return Task.FromResult(0);
        });

        var peer = new Argument<string>("peer") { Description = "Name, id or fingerprint prefix of the peer" };
        var app = new Option<string?>("--app") { Description = "Revoke only this application's grant on the peer (the pairing stays)" };
        var revoke = new Command("revoke", "Forget a paired peer (its next connection needs a PIN again), or with --app revoke one application's grant") { peer, app };
        revoke.SetAction(async (parseResult, _) =>
        {
            string which = parseResult.GetValue(peer)!;
            var trust = PeerTrust.Open(context.GetStateDirectory(parseResult));
            var found = trust.TryResolve(which, out string? problem);
            if (found is null)
            {
                await Console.Error.WriteLineAsync($"ospbridge: {problem ?? "not paired with " + which}");
                return 1;
            }
            if (parseResult.GetValue(app) is { } appName)
            {
                if (!trust.RevokeGrant(found.Fingerprint, appName))
                {
                    await Console.Error.WriteLineAsync($"ospbridge: {CliErrors.OneLine(appName)} has no grant on {found.Name} ({found.Id})");
                    return 1;
                }
                Console.Out.WriteLine($"revoked {CliErrors.OneLine(appName)} on {found.Name} {found.Id}");
                return 0;
            }
            trust.Revoke(found.Fingerprint);
            Console.Out.WriteLine($"revoked {found.Name} {found.Id} {found.Fingerprint}");
            return 0;
        });
        command.Subcommands.Add(revoke);
        return command;
    }
}
