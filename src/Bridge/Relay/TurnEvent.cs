using System.Net;

namespace OspBridge.Bridge.Relay;

/// <summary>What happened in a <see cref="TurnServerCore"/>.</summary>
internal enum TurnEventKind
{
    /// <summary>An allocation was created.</summary>
    Allocated,
    /// <summary>An allocation ended (Refresh with lifetime 0, or it expired).</summary>
    Ended,
}

/// <summary>An allocation event: the client's address, the relayed address, and the bytes relayed so far (both directions).</summary>
internal readonly record struct TurnEvent(TurnEventKind Kind, IPEndPoint Client, IPEndPoint Relay, long BytesToPeer, long BytesToClient);
