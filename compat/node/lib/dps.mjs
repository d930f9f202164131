// The Device Provisioning Service as the Node tests see it: its well-known ID
// scope and service connection string, the provisioning device and service
// SDKs, and a scope that removes what a test enrolled and provisioned.
import { createHmac, randomBytes } from 'node:crypto';
import provisioningDevice from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import provisioningHttp from 'azure-iot-provisioning-device-http';
import provisioningService from 'azure-iot-provisioning-service';
import symmetricKey from 'azure-iot-security-symmetric-key';
import x509Security from 'azure-iot-security-x509';
import { withTimeout } from './hub.mjs';

export const { ProvisioningDeviceClient } = provisioningDevice;
export const { ProvisioningServiceClient } = provisioningService;
export const { SymmetricKeySecurityClient } = symmetricKey;
export const { X509Security } = x509Security;
export const ProvMqtt = provisioningMqtt.Mqtt;
export const ProvMqttWs = provisioningMqtt.MqttWs;
export const ProvHttp = provisioningHttp.Http;

// The emulator's DPS: same host and ports as the hub.
export const PROVISIONING_HOST = 'localhost';
export const ID_SCOPE = '0ne00000000';
export const DPS_SERVICE_CONNECTION_STRING =
  'HostName=localhost;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=fMIItyw02bQdbPuawrxZkqYB3YVPVU0otzrtAclwfM8=';
// Names the assigned hub may go by: the host the device used.
export const HUB_HOSTS = ['localhost', '127.0.0.1'];
// register() polls every 2 s at least; this allows several rounds.
export const REGISTER_TIMEOUT_MS = 60_000;

export function newProvisioningServiceClient() {
  return ProvisioningServiceClient.fromConnectionString(DPS_SERVICE_CONNECTION_STRING);
}

export function newKey() {
  return randomBytes(32).toString('base64');
}

// A group member's key: Base64(HMAC-SHA256(Base64Decode(groupKey), registrationId)).
export function derivedDeviceKey(groupKey, registrationId) {
  return createHmac('sha256', Buffer.from(groupKey, 'base64')).update(registrationId, 'utf8').digest('base64');
}

export function symmetricKeyAttestation(primaryKey, secondaryKey) {
  const keys = {};
  if (primaryKey !== undefined) keys.primaryKey = primaryKey;
  if (secondaryKey !== undefined) keys.secondaryKey = secondaryKey;
  return { type: 'symmetricKey', symmetricKey: keys };
}

export function x509ClientAttestation(certPem) {
  return { type: 'x509', x509: { clientCertificates: { primary: { certificate: certPem } } } };
}

export function x509SigningAttestation(caPem) {
  return { type: 'x509', x509: { signingCertificates: { primary: { certificate: caPem } } } };
}

// register() with a bound: resolves with the registrationState.
export function register(registration, what = 'register') {
  return withTimeout(registration.register(), REGISTER_TIMEOUT_MS, what);
}

// The HTTP status of a service SDK error (RestApiClient.translateError keeps the response).
export function statusOf(err) {
  return err?.response?.statusCode;
}

// What the service client created, and the hub devices provisioning made,
// removed by cleanup(): registration states, enrollments, groups, devices.
export class DpsScope {
  constructor(service, registry) {
    this.service = service;
    this.registry = registry;
    this.enrollments = [];
    this.groups = [];
    this.registrations = [];
    this.devices = [];
  }

  async enroll(registrationId, attestation, fields = {}) {
    this.enrollments.push(registrationId);
    this.member(registrationId, fields.deviceId || registrationId);
    const { responseBody } = await this.service.createOrUpdateIndividualEnrollment({ registrationId, attestation, ...fields });
    return responseBody;
  }

  async enrollGroup(enrollmentGroupId, attestation, fields = {}) {
    this.groups.push(enrollmentGroupId);
    const { responseBody } = await this.service.createOrUpdateEnrollmentGroup({ enrollmentGroupId, attestation, ...fields });
    return responseBody;
  }

  // A registration id (and hub device) to remove afterwards.
  member(registrationId, deviceId = registrationId) {
    this.registrations.push(registrationId);
    this.devices.push(deviceId);
    return registrationId;
  }

  async cleanup() {
    const quiet = (p) => withTimeout(p, 15_000, 'cleanup').catch(() => {}); // may already be gone
    for (const id of this.registrations) await quiet(this.service.deleteDeviceRegistrationState(id));
    for (const id of this.enrollments) await quiet(this.service.deleteIndividualEnrollment(id));
    for (const id of this.groups) await quiet(this.service.deleteEnrollmentGroup(id));
    for (const id of this.devices) await quiet(this.registry.delete(id));
  }
}
