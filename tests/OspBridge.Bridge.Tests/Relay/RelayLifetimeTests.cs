using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Relay;
using OspBridge.Bridge.Server;
using OspBridge.Crypto.Identity;

namespace OspBridge.Bridge.Tests.Relay;

/// <summary>The relay belongs to one server start: a start that fails (HTTP port taken) leaves no relay socket bound.</summary>
public sealed class RelayLifetimeTests
{
    [Fact]
    public async Task A_failed_start_releases_the_relay_port()
    {
        using var dir = new TestDirectory("ospbridge-relay-life");
        using var identity = AgentIdentity.LoadOrCreate(dir["bridge"], "Relay Lifetime Bridge");
        await using var devices = new DeviceRegistry(identity, PeerTrust.Open(dir["bridge"]), ["lo"], NullLoggerFactory.Instance);
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int httpPort = ((IPEndPoint)taken.LocalEndpoint).Port;
        int relayPort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            relayPort = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        await Assert.ThrowsAnyAsync<IOException>(() => BridgeServer.StartAsync(
            new BridgeServerOptions { Port = httpPort, Relay = RelayMode.Always, RelayPort = relayPort },
            devices, BridgeTokens.Open(dir["bridge"], "relay-lifetime-token-0123"), NullLoggerFactory.Instance, CancellationToken.None));

        // the relay of the failed attempt is gone: its UDP port can be bound again
        using var again = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        again.Bind(new IPEndPoint(IPAddress.Loopback, relayPort));
    }
}
