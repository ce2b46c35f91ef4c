using System.Net;
using OspBridge.Osp.Agent;

namespace OspBridge.Osp.Tests.Agent;

/// <summary>
/// Two agents connected over loopback QUIC: a listener for <see cref="ServerAgent"/>, <see cref="ClientAgent"/>'s
/// connection to it (pinned to the server's fingerprint) and the server's accepted side. Disposing closes the client,
/// then the server side, then the listener.
/// </summary>
internal sealed class OspLoopbackLink : IAsyncDisposable
{
    /// <summary>How long the server side may take to accept (generous: the test hosts are slow and shared).</summary>
    public static readonly TimeSpan AcceptTimeout = TimeSpan.FromSeconds(30);

    private OspLoopbackLink(OspAgentOptions server, OspAgentOptions client, OspAgentListener listener, OspConnection clientSide, OspConnection serverSide)
    {
        ServerAgent = server;
        ClientAgent = client;
        Listener = listener;
        Client = clientSide;
        Server = serverSide;
    }

    /// <summary>The listening agent's options.</summary>
    public OspAgentOptions ServerAgent { get; }

    /// <summary>The connecting agent's options.</summary>
    public OspAgentOptions ClientAgent { get; }

    /// <summary>The server's listener on 127.0.0.1 (an ephemeral port).</summary>
    public OspAgentListener Listener { get; }

    /// <summary>The client's side of the connection.</summary>
    public OspConnection Client { get; }

    /// <summary>The server's side of the connection (accepted by <see cref="Listener"/>).</summary>
    public OspConnection Server { get; }

    /// <summary>Starts the listener, connects the client to it and accepts the server side.</summary>
    public static async Task<OspLoopbackLink> OpenAsync(OspAgentOptions server, OspAgentOptions client, CancellationToken ct = default)
    {
        var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server, ct);
        try
        {
            var accept = listener.AcceptAsync(ct);
            var clientSide = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, client, ct);
            try
            {
                return new OspLoopbackLink(server, client, listener, clientSide, await accept.WaitAsync(AcceptTimeout, ct));
            }
            catch
            {
                await clientSide.DisposeAsync();
                throw;
            }
        }
        catch
        {
            await listener.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        await Listener.DisposeAsync();
    }
}
