using System.Net;

namespace OspBridge.WebRtc.Ice;

/// <summary>What an <see cref="IceEvent"/> reports.</summary>
public enum IceEventKind
{
    /// <summary>A local candidate was gathered (<see cref="IceEvent.Candidate"/>).</summary>
    CandidateGathered,
    /// <summary>Local gathering is complete (after <see cref="IceAgent.CompleteGathering"/>).</summary>
    GatheringComplete,
    /// <summary><see cref="IceAgent.State"/> changed to <see cref="IceEvent.State"/>.</summary>
    StateChanged,
    /// <summary><see cref="IceAgent.SelectedPair"/> changed to <see cref="IceEvent.Pair"/>.</summary>
    SelectedPairChanged,
    /// <summary>
    /// A non-STUN datagram arrived on a validated pair (<see cref="IceEvent.Data"/> from <see cref="IceEvent.Remote"/>
    /// to <see cref="IceEvent.Local"/>). Only raised when the agent is used on its own; a composite core that
    /// demultiplexes itself asks <see cref="IceAgent.IsValidated"/> instead.
    /// </summary>
    DataReceived,
}

/// <summary>
/// One event queued by an <see cref="IceAgent"/> and drained with <see cref="IceAgent.TryPollEvent"/>.
/// Only the fields of its <see cref="Kind"/> are set.
/// </summary>
/// <param name="Kind">What happened.</param>
/// <param name="State">For <see cref="IceEventKind.StateChanged"/>: the new state.</param>
/// <param name="Candidate">For <see cref="IceEventKind.CandidateGathered"/>: the candidate to signal.</param>
/// <param name="Pair">For <see cref="IceEventKind.SelectedPairChanged"/>: the newly selected pair.</param>
/// <param name="Data">For <see cref="IceEventKind.DataReceived"/>: a copy of the datagram.</param>
/// <param name="Local">For <see cref="IceEventKind.DataReceived"/>: the local base it arrived on.</param>
/// <param name="Remote">For <see cref="IceEventKind.DataReceived"/>: the sender.</param>
public readonly record struct IceEvent(
    IceEventKind Kind,
    RTCIceConnectionState State = RTCIceConnectionState.New,
    IceCandidate? Candidate = null,
    IceCandidatePair? Pair = null,
    byte[]? Data = null,
    IPEndPoint? Local = null,
    IPEndPoint? Remote = null);
