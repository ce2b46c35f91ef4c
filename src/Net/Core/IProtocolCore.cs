using System.Diagnostics.CodeAnalysis;

namespace OspBridge.Net.Core;

/// <summary>
/// The one sans-IO contract every protocol core implements (QUIC connection, DTLS endpoint, SCTP
/// association, ICE agent, mDNS responder/querier, …). A core never touches sockets, threads, timers or
/// the wall clock: the driver (or a test's virtual network) feeds it received datagrams and the current
/// monotonic time <c>now</c>, then drains what it wants to send, its events and its next deadline.
/// </summary>
/// <remarks>
/// <para>Rules every implementation follows:</para>
/// <list type="bullet">
/// <item>All calls come from one logical thread (the connection's serialized loop); cores hold no locks.</item>
/// <item><c>now</c> is monotonic and never decreases between calls; cores never read a clock themselves.</item>
/// <item>Randomness comes from an injected <see cref="System.Security.Cryptography.RandomNumberGenerator"/>
/// (see the core's options), so a test can seed it.</item>
/// <item>Events are queued and drained with <see cref="IProtocolCore{TEvent}.TryPollEvent"/>; a core never
/// invokes a callback or raises a C# event from inside one of these calls.</item>
/// <item>Bad input from the network changes state or is dropped; it never throws anything but the
/// layer's own exception type for caller errors, and never grows memory without bound.</item>
/// </list>
/// <para>Driver order after any input: <see cref="Receive"/> or <see cref="HandleDeadline"/> →
/// drain <see cref="TryPollTransmit"/> → drain events → re-arm the timer at <see cref="NextDeadline"/>.</para>
/// </remarks>
public interface IProtocolCore
{
    /// <summary>
    /// Feeds one received datagram (or packet of the layer below) at time <paramref name="now"/>.
    /// The core may overwrite <paramref name="datagram"/> in place (e.g. to decrypt it); the caller must
    /// not rely on its contents afterwards.
    /// </summary>
    void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now);

    /// <summary>
    /// Writes the next datagram to send into <paramref name="destination"/>. Returns false when nothing is
    /// ready now (e.g. congestion- or pacing-limited, or idle). <paramref name="destination"/> must hold
    /// at least <see cref="CoreLimits.MaxDatagramSize"/> bytes unless the core's options state a smaller MTU.
    /// </summary>
    bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit);

    /// <summary>The earliest time at which <see cref="HandleDeadline"/> must be called; null when no timer runs.</summary>
    TimeSpan? NextDeadline { get; }

    /// <summary>Runs every timer due at or before <paramref name="now"/> (retransmission, keep-alive, idle, …).</summary>
    void HandleDeadline(TimeSpan now);
}

/// <summary>A <see cref="IProtocolCore"/> that also reports events (state changes, data, errors) through a queue.</summary>
/// <typeparam name="TEvent">The core's event type.</typeparam>
public interface IProtocolCore<TEvent> : IProtocolCore
{
    /// <summary>Dequeues the next event; false when none is pending.</summary>
    bool TryPollEvent([MaybeNullWhen(false)] out TEvent ev);
}

/// <summary>Sizes shared by cores and drivers.</summary>
public static class CoreLimits
{
    /// <summary>
    /// The largest datagram any core writes in <see cref="IProtocolCore.TryPollTransmit"/> (the IPv4 UDP
    /// payload limit); drivers size their send buffers to this.
    /// </summary>
    public const int MaxDatagramSize = 65_507;
}
