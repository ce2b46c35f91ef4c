using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Server;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge serve [--bind &lt;addr&gt;] [--port &lt;n&gt;] [--token &lt;t&gt;] [--state-dir &lt;d&gt;] [--interface &lt;if&gt;]...</c>:
/// the bridge (docs/bridge.md). An OSP agent on the listening side — it discovers devices, pairs with PINs typed in
/// its web UI and keeps their sessions — with an HTTP server (Kestrel) for the web UI, the device API, the REST
/// gateway and WebSocket/PeerJS signaling. stdout: <c>listening on http://addr:port</c>, then
/// <c>admin http://addr:port/#token=…</c>; <c>stopped</c> after SIGTERM/SIGINT.
/// </summary>
internal sealed class ServeCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var bind = new Option<string>("--bind") { Description = "Address to listen on (default 127.0.0.1; 0.0.0.0 for the LAN)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port)", DefaultValueFactory = _ => 8080 };
        var token = new Option<string?>("--token") { Description = "Admin token (default: generated once and kept in <state-dir>/bridge/admin-token)" };
        var iface = new Option<string[]>("--interface") { Description = "Interface to discover devices on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var https = new Option<bool>("--https") { Description = "Serve HTTPS with a certificate made from the bridge's agent key (kept in <state-dir>/bridge/https-cert.pem; docs/bridge.md: how a browser trusts it)" };
        var name = new Option<string>("--name") { Description = "The bridge's display name towards devices", DefaultValueFactory = _ => "OspBridge" };
        var relay = new Option<string>("--relay") { Description = "Relay media through the bridge's TURN server: auto (client and device on different subnets), always, never", DefaultValueFactory = _ => "auto" };
        var relayPort = new Option<int>("--relay-port") { Description = "UDP port of the relay (0: any free port)", DefaultValueFactory = _ => 0 };
        var noPreconnect = new Option<bool>("--no-preconnect") { Description = "Do not open sessions to trusted devices when they appear (connect on first use only)" };
        var command = new Command("serve", "Run the bridge: web UI, device API, REST gateway, WebSocket and PeerJS signaling to paired LP2P devices")
        {
            bind, port, token, iface, name, https, relay, relayPort, noPreconnect,
        };
        command.SetAction((parseResult, ct) => CliGuard.RunAsync(async () =>
        {
            context.InterruptGrace = CliContext.ServerInterruptGrace; // an orderly shutdown after SIGINT/SIGTERM

            if (!IPAddress.TryParse(parseResult.GetValue(bind), out var address))
                throw new CliException($"--bind '{CliErrors.OneLine(parseResult.GetValue(bind) ?? "")}' is not an IP address");
            int p = parseResult.GetValue(port);
            if (p is < 0 or > 65535) throw new CliException("--port must be 0..65535");
            string? t = parseResult.GetValue(token);
            if (t is not null && (t.Length is < 16 or > 256 || !t.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~')))
                throw new CliException("--token must be 16..256 characters of A-Z a-z 0-9 - _ . ~");
            var relayMode = parseResult.GetValue(relay) switch
            {
                "auto" => OspBridge.Bridge.Relay.RelayMode.Auto,
                "always" => OspBridge.Bridge.Relay.RelayMode.Always,
                "never" => OspBridge.Bridge.Relay.RelayMode.Never,
                var other => throw new CliException($"--relay '{CliErrors.OneLine(other ?? "")}' must be auto, always or never"),
            };
            int rp = parseResult.GetValue(relayPort);
            if (rp is < 0 or > 65535) throw new CliException("--relay-port must be 0..65535");
            string display = parseResult.GetValue(name)!;
            if (string.IsNullOrWhiteSpace(display)) throw new CliException("--name must not be empty");
            var interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            string stateDir = context.GetStateDirectory(parseResult);

            var loggers = context.CreateLoggerFactory(parseResult);
            using var identity = AgentIdentity.LoadOrCreate(stateDir, OspInstanceName.FromDisplayName(display));
            var trust = PeerTrust.Open(stateDir);
            var tokens = BridgeTokens.Open(stateDir, t);
            await using var devices = new DeviceRegistry(identity, trust, interfaces, loggers) { Preconnect = !parseResult.GetValue(noPreconnect) };
            await devices.StartAsync(ct);
            using var certificate = parseResult.GetValue(https) ? HttpsCertificate.LoadOrCreate(identity, stateDir, address, TimeProvider.System) : null;
            BridgeServer server;
            try
            {
                server = await BridgeServer.StartAsync(new BridgeServerOptions { Bind = address, Port = p, Certificate = certificate, Relay = relayMode, RelayPort = rp }, devices, tokens, loggers, ct);
            }
            catch (IOException ex)
            {
                throw new CliException($"cannot listen on {address}:{p}: {ex.Message}");
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                throw new CliException($"cannot open the relay on {address} UDP {rp}: {ex.Message}");
            }
            await using (server)
            {
                WriteLine($"listening on {server.Url}");
                if (certificate is not null)
                    WriteLine($"certificate sha256 {HttpsCertificate.Sha256(certificate)} spki {HttpsCertificate.SpkiSha256(certificate)}");
                if (server.RelayPort is { } relayUdp) WriteLine($"relay turn udp {relayUdp} ({relayMode.ToString().ToLowerInvariant()})");
                if (server.RelayStreamPorts is ({ } relayTcp, var relayTls)) WriteLine($"relay turn tcp {relayTcp}" + (relayTls is { } tlsPort ? $", turns tls {tlsPort}" : ""));
                WriteLine($"admin {server.AdminUrl}");
                try { await Task.Delay(Timeout.Infinite, ct); }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            }
            WriteLine("stopped");
            loggers.Dispose();
            return 0;
        }));
        return command;
    }

    private static void WriteLine(string line)
    {
        lock (Console.Out)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }
}
