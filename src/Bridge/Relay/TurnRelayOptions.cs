using System.Net;
using System.Security.Cryptography;

namespace OspBridge.Bridge.Relay;

/// <summary>Opens and closes the relayed transport addresses (one UDP socket each) for <see cref="TurnServerCore"/>.</summary>
internal interface IRelayPortSource
{
    /// <summary>Binds a UDP port on <paramref name="address"/> (a local address of the bridge); false when none is free or the address is not local.</summary>
    bool TryOpen(IPAddress address, out IPEndPoint? relay);

    /// <summary>Closes a relayed transport address opened by <see cref="TryOpen"/>.</summary>
    void Close(IPEndPoint relay);
}

/// <summary>Limits and inputs of <see cref="TurnServerCore"/> (docs/bridge.md, "Relay").</summary>
internal sealed class TurnRelayOptions
{
    /// <summary>The secret credentials are derived from (<see cref="TurnCredentials"/>); at least 16 bytes.</summary>
    public required byte[] Secret { get; init; }

    /// <summary>Opens relay ports.</summary>
    public required IRelayPortSource Ports { get; init; }

    /// <summary>Randomness (transaction ids of Data indications, the nonce).</summary>
    public RandomNumberGenerator Random { get; init; } = RandomNumberGenerator.Create();

    /// <summary>Allocations at once, all clients together (486 beyond).</summary>
    public int MaxAllocations { get; init; } = 64;

    /// <summary>Allocations at once per credential (one viewer session: a browser allocates one per local interface).</summary>
    public int MaxAllocationsPerUsername { get; init; } = 4;

    /// <summary>Permissions (peer IP addresses) per allocation (508 beyond).</summary>
    public int MaxPermissionsPerAllocation { get; init; } = 16;

    /// <summary>Channel bindings per allocation (508 beyond).</summary>
    public int MaxChannelsPerAllocation { get; init; } = 16;

    /// <summary>Lifetime of an allocation that asks for none or less (RFC 8656: 10 minutes).</summary>
    public TimeSpan DefaultLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest lifetime granted per Allocate/Refresh (RFC 8656 suggests 1 hour).</summary>
    public TimeSpan MaxLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a NONCE handed out in a 401/438 stays valid; a request with an older one gets 438 (Stale Nonce) and a fresh one.</summary>
    public TimeSpan NonceLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Permission lifetime (RFC 8656 §9: 300 s, not negotiable).</summary>
    public TimeSpan PermissionLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Channel binding lifetime (RFC 8656 §12: 10 minutes).</summary>
    public TimeSpan ChannelLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Relayed bytes per second per allocation, both directions together (a 1 s burst); more is dropped.</summary>
    public int BytesPerSecondPerAllocation { get; init; } = 4_000_000;

    /// <summary>Largest application datagram relayed (bigger ones are dropped).</summary>
    public int MaxPayload { get; init; } = 1500;

    /// <summary>Datagrams waiting in the core for the driver to send; more are dropped.</summary>
    public int MaxQueuedTransmits { get; init; } = 1024;

    /// <summary>
    /// Which peer addresses an allocation may get permissions for (403 otherwise). Default: not loopback, not
    /// unspecified, not multicast/broadcast — a browser cannot use the bridge to reach its own loopback services.
    /// </summary>
    public Func<IPAddress, bool> PeerAllowed { get; init; } = DefaultPeerAllowed;

    /// <summary>The default <see cref="PeerAllowed"/>.</summary>
    public static bool DefaultPeerAllowed(IPAddress a)
    {
        if (a.IsIPv4MappedToIPv6) a = a.MapToIPv4();
        if (IPAddress.IsLoopback(a) || a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any) || a.Equals(IPAddress.Broadcast)) return false;
        if (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) return a.GetAddressBytes()[0] is < 224;
        return !a.IsIPv6Multicast;
    }
}
