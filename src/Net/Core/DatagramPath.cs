using System.Net;

namespace OspBridge.Net.Core;

/// <summary>
/// Where a datagram came from or goes to: the local and remote transport addresses and the interface.
/// Layers that run over an already-connected lower layer (DTLS over an ICE pair, SCTP over DTLS) use
/// <see cref="None"/>; QUIC, ICE and mDNS fill in what they know.
/// </summary>
/// <param name="Local">The local address the datagram arrived on / should leave from, if known or required.</param>
/// <param name="Remote">The peer's address (source of a received datagram, destination of a transmit).</param>
/// <param name="InterfaceIndex">OS interface index (arrival interface, or the one to send out of); 0 = unspecified.</param>
public readonly record struct DatagramPath(IPEndPoint? Local, IPEndPoint? Remote, int InterfaceIndex = 0)
{
    /// <summary>No addressing: the layer below is connected.</summary>
    public static DatagramPath None => default;

    /// <summary>A path that names only the remote endpoint.</summary>
    public static DatagramPath To(IPEndPoint remote) => new(null, remote);
}
