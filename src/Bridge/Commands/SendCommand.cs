using System.CommandLine;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Lp2p;
using Spectre.Console;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge send &lt;peer&gt; &lt;file&gt; [--timeout &lt;s&gt;] [--interface &lt;if&gt;]...</c>: sends a file to a paired agent over
/// an LP2P data channel (label <c>file</c>, protocol = the file name; docs/cli.md "File transfer"). Shows a progress
/// bar on a terminal; prints <c>sent &lt;name&gt; &lt;bytes&gt; &lt;sha256&gt;</c> and exits 0 once the agent confirmed every byte.
/// </summary>
internal sealed class SendCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var peer = new Argument<string>("peer") { Description = "A paired agent: name, id or fingerprint prefix" };
        var file = new Argument<FileInfo>("file") { Description = "The file to send" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to find and connect to the agent (the transfer itself is not limited)", DefaultValueFactory = _ => 30 };
        var iface = new Option<string[]>("--interface") { Description = "Interface to browse on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("send", "Send a file to a paired agent; exits 0 when the agent confirmed every byte") { peer, file, timeout, iface };
        command.SetAction((parseResult, ct) => CliGuard.RunAsync(async () =>
        {
            string which = parseResult.GetValue(peer)!;
            var path = parseResult.GetValue(file)!;
            if (!path.Exists) throw new CliException($"{path.FullName}: no such file");
            string name = path.Name;
            if (!FileTransfer.IsValidName(name)) throw new CliException($"'{name}' cannot be sent: the name must not start with '.', contain control characters or exceed 255 bytes");
            TimeSpan limit = TrustedPeerSession.RequireTimeout(parseResult.GetValue(timeout));
            var interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            await using var session = await TrustedPeerSession.ConnectAsync(context, parseResult, which, interfaces, limit, ct);
            if (session is null) return 1;
            await using var source = new FileStream(path.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            await using var channel = await PeerClient.OpenChannelAsync(session.Connection, FileTransfer.Label, name, which, ct);
            FileTransferResult result;
            if (Console.IsOutputRedirected)
            {
                result = await FileTransfer.SendAsync(channel, source, null, ct);
            }
            else
            {
                result = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                    .StartAsync(async progress =>
                    {
                        var task = progress.AddTask(Markup.Escape(name), maxValue: Math.Max(1, path.Length));
                        var r = await FileTransfer.SendAsync(channel, source, new Progress<long>(v => task.Value = v), ct);
                        task.Value = task.MaxValue;
                        return r;
                    });
            }
            if (!result.Ok)
            {
                await Console.Error.WriteLineAsync($"ospbridge: send failed: {result.Error}");
                return 1;
            }
            Console.Out.WriteLine($"sent {name} {result.Bytes} {result.Sha256Hex}");
            await channel.CloseAsync(ct);
            return 0;
        }));
        return command;
    }

}
