using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OspBridge.Bridge.Pairing;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge peers [--json]</c>: lists the trusted (paired) peers of this agent — a table, or with
/// <c>--json</c> one object per line <c>{id, name, fp, firstSeen, lastSeen}</c>.
/// <c>ospbridge peers revoke &lt;peer&gt;</c>: forgets a peer (name, id or fingerprint prefix); its next
/// connection needs a PIN again. Prints <c>revoked &lt;name&gt; &lt;id&gt; &lt;fp&gt;</c>.
/// </summary>
internal sealed class PeersCommand : ICliCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public Command Build(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "One JSON object per peer per line: id, name, fp, firstSeen, lastSeen" };
        var command = new Command("peers", "List the peers this agent is paired with (the trust store)") { json };
        command.SetAction((parseResult, _) =>
        {
            using var trust = PeerTrust.Open(context.GetStateDirectory(parseResult), context.Logger(parseResult, "osp.trust"));
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
            Console.Out.WriteLine($"{"NAME".PadRight(nameWidth)}  {"ID".PadRight(idWidth)}  {"LAST SEEN",-20}  FINGERPRINT");
            foreach (var p in peers)
            {
                string last = p.LastSeen.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                Console.Out.WriteLine($"{p.Name.PadRight(nameWidth)}  {p.Id.PadRight(idWidth)}  {last,-20}  {p.Fingerprint}");
            }
            return Task.FromResult(0);
        });

        var peer = new Argument<string>("peer") { Description = "Name, id or fingerprint prefix of the peer" };
        var revoke = new Command("revoke", "Forget a paired peer: its next connection needs a PIN again") { peer };
        revoke.SetAction(async (parseResult, _) =>
        {
            string which = parseResult.GetValue(peer)!;
            using var trust = PeerTrust.Open(context.GetStateDirectory(parseResult), context.Logger(parseResult, "osp.trust"));
            var found = trust.Resolve(which, out string? problem);
            if (found is null)
            {
                await Console.Error.WriteLineAsync($"ospbridge: {problem ?? "not paired with " + which}");
                return 1;
            }
            trust.Revoke(found);
            Console.Out.WriteLine($"revoked {found.Name} {found.Id} {found.Fingerprint}");
            return 0;
        });
        command.Subcommands.Add(revoke);
        return command;
    }
}
