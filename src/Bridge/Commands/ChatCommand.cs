using System.CommandLine;
using System.Text;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Lp2p;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge chat &lt;peer&gt; --message &lt;text&gt; [--timeout &lt;s&gt;] [--interface &lt;if&gt;]...</c>: connects to a
/// paired agent (no PIN), opens an LP2P data channel labelled <c>chat</c>, sends the message and prints the
/// reply (the agent echoes it). An unpaired peer: <c>ospbridge: not paired with &lt;peer&gt;</c>, exit 1.
/// </summary>
internal sealed class ChatCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var peer = new Argument<string>("peer") { Description = "A paired agent: name, id or fingerprint prefix" };
        var message = new Option<string>("--message") { Description = "Text to send", Required = true };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to find, connect and get the reply", DefaultValueFactory = _ => 30 };
        var iface = new Option<string[]>("--interface") { Description = "Interface to browse on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("chat", "Send one message to a paired agent over an LP2P data channel and print the reply") { peer, message, timeout, iface };
        command.SetAction((parseResult, ct) => CliGuard.RunAsync(async () =>
        {
            string which = parseResult.GetValue(peer)!;
            string text = parseResult.GetValue(message)!;
            TimeSpan limit = TrustedPeerSession.RequireTimeout(parseResult.GetValue(timeout));
            var interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            await using var session = await TrustedPeerSession.ConnectAsync(context, parseResult, which, interfaces, limit, ct);
            if (session is null) return 1;
            using var replyTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            replyTimeout.CancelAfter(limit);
            var connection = session.Connection;
            Net.Channels.ChannelMessage? reply;
            try
            {
                await using var channel = await PeerClient.OpenChannelAsync(connection, "chat", "", which, replyTimeout.Token);
                await channel.SendAsync(Encoding.UTF8.GetBytes(text), isText: true, replyTimeout.Token);
                reply = await channel.ReceiveAsync(replyTimeout.Token);
                if (reply is not null) await channel.CloseAsync(ct);
            }
            catch (Exception ex) when (ex is OspException or CliException)
            {
                if (await GrantRefusedAsync(connection)) throw new CliException(GrantRefused(which));
                throw;
            }
            if (reply is not { } m)
            {
                if (await GrantRefusedAsync(connection)) throw new CliException(GrantRefused(which));
                throw new CliException($"{which} closed the chat channel without replying");
            }
            Console.Out.WriteLine(m.IsText ? Encoding.UTF8.GetString(m.Data.Span) : Convert.ToHexStringLower(m.Data.Span));
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The agent authenticated us from its trust store (no PIN) and then closed with 401: the pairing stands but it
    /// refused this application's grant (revoked with <c>peers revoke --app</c>, or denied at its consent prompt).
    /// </summary>
    private static async Task<bool> GrantRefusedAsync(LP2PConnection connection)
    {
        await ((Task)connection.Closed).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return connection.Closed.IsCompletedSuccessfully && connection.Closed.Result == OspConnection.NotAuthenticatedErrorCode
            && !connection.Connection.IsNotTrustedByPeer;
    }

    internal static string GrantRefused(string peer) =>
        $"{peer} refused the chat: it has no grant for the application '{PeerTrust.App}' from us (revoked or denied on {peer}; the pairing itself stands) — its owner can allow it again at the agent's consent prompt";
}
